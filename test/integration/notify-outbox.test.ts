/**
 * Never lost, never noisy, with real workers and real failures (an ACME CA on a closed port):
 * - SMTP down: the event waits in the outbox, survives a restart of the `xmpp-cert worker`
 *   process, and is delivered once when the server is back;
 * - a webhook answering 500, then 200: delivered once, not twice;
 * - twenty failures of one domain within the digest window: one message (dedupe), and with dedupe
 *   off, still one message (the digest) that says twenty times.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { createMetrics } from '../../src/metrics';
import { Worker } from '../../src/processes/worker';
import { createLogger } from '../../src/shared/log';
import { parseMetrics, value } from '../helpers/metrics-text';
import { CLI, waitFor } from '../helpers/process';
import { freePort } from '../helpers/prosody-server';
import { startSmtpCapture, type SmtpCapture } from '../helpers/smtp-capture';
import { startWebhookCapture, type WebhookCapture } from '../helpers/webhook-capture';

jest.setTimeout(45_000);
const DOMAIN = 'example.test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let hooks: WebhookCapture;
beforeAll(async () => {
  hooks = await startWebhookCapture();
});
afterAll(() => hooks?.stop());
/** Worker processes still running when a test fails: killed, so jest can exit. */
const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  children.clear();
});

/** One exporter registry for the file (as one exporter process has), pointed at each test's state. */
let scrapedDir = '';
const metrics = createMetrics(
  () => undefined,
  () => scrapedDir,
);

async function setup(notify: Record<string, unknown>) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-notify-outbox-'));
  fs.mkdirSync(path.join(root, 'certs'));
  const config = {
    prosody: { config: null, certs: 'certs' },
    domains: [DOMAIN],
    probes: { enabled: false },
    renewal: {
      stateDir: 'state',
      jitter: 0,
      retry: { count: 1, delay: 0 },
      backoff: { initial: '1h', max: '1h' },
      issuers: [
        { type: 'acme', directory: `https://127.0.0.1:${await freePort()}/dir`, challenge: { type: 'http-01', listen: `127.0.0.1:${await freePort()}` } },
      ],
    },
    notify,
  };
  const file = path.join(root, 'xmpp-cert.yml');
  fs.writeFileSync(file, JSON.stringify(config));
  const stateDir = path.join(root, 'state');
  const logs: string[] = [];
  const worker = () => new Worker(loadConfig({ file, env: {} }), createLogger('info', { write: (l: string) => void logs.push(l) }), { step: () => undefined });
  const queued = (channel: string) => fs.readdirSync(path.join(stateDir, 'outbox', channel.replace(':', '-'))).filter((n) => n.endsWith('.json')).length;
  const scrape = async () => {
    scrapedDir = stateDir;
    return parseMetrics(Buffer.concat(await metrics.expose()).toString());
  };
  return { file, stateDir, logs, worker, queued, scrape };
}

/** `xmpp-cert worker` as a real process; `stop()` sends SIGTERM and resolves with its exit code. */
function startWorker(file: string) {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'worker', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    output: () => output,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

test('SMTP down: the event waits in the outbox, survives a worker restart and is delivered once when the server is back', async () => {
  const smtpPort = await freePort(); // nothing listens here yet
  const s = await setup({ email: { to: 'ops@example.test', host: '127.0.0.1', port: smtpPort }, digestWindow: '1s' });
  const first = startWorker(s.file);
  await waitFor(() => first.output().includes('cannot connect to the SMTP server'), 15_000, 'a failed delivery');
  expect(first.output()).toContain(`email: cannot connect to the SMTP server at 127.0.0.1:${smtpPort}: connect ECONNREFUSED`);
  expect(await first.stop()).toBe(0);
  expect(s.queued('email')).toBe(1);
  let samples = await s.scrape();
  expect(value(samples, 'xmpp_cert_notifications_failed_total', { channel: 'email', reason: 'connection' })).toBe(1);
  expect(value(samples, 'xmpp_cert_notification_outbox_events', { channel: 'email' })).toBe(1);

  let smtp: SmtpCapture | undefined;
  try {
    smtp = await startSmtpCapture({ port: smtpPort });
    const second = startWorker(s.file);
    const mail = await waitFor(() => smtp!.mails[0], 15_000, 'the queued mail');
    // The restarted worker's own check finds the group waiting out its backoff: no new event.
    await waitFor(() => second.output().includes('next renewal check at'), 15_000, "the restarted worker's check");
    expect(await second.stop()).toBe(0);
    expect(smtp.mails).toHaveLength(1);
    expect(mail.parsed.subject).toBe(`[xmpp-cert] ${DOMAIN}: renewal failed (connection)`);
    expect(mail.parsed.text).toMatch(/next attempt: \d{4}-\d\d-\d\dT/);
    expect(s.queued('email')).toBe(0);
    samples = await s.scrape();
    expect(value(samples, 'xmpp_cert_notifications_sent_total', { channel: 'email' })).toBe(1);
    expect(value(samples, 'xmpp_cert_notification_outbox_events', { channel: 'email' })).toBe(0);
  } finally {
    await smtp?.stop();
  }
});

test('a webhook answering 500, then 200: delivered once, not twice', async () => {
  const s = await setup({
    webhooks: [{ url: hooks.url('/retry/T0KEN'), format: 'generic', allowInsecure: true }],
    digestWindow: 0,
    retry: { initial: '1s', max: '2s' },
  });
  hooks.answer(500);
  const worker = s.worker();
  try {
    await worker.renewDomain(DOMAIN, {});
    const mine = () => hooks.received.filter((h) => h.path === '/retry/T0KEN');
    await waitFor(() => mine().length >= 2, 10_000, 'the retry');
    await sleep(2500); // longer than the backoff: a second delivery would have happened by now
    expect(mine().map((h) => h.status)).toEqual([500, 200]);
    expect(mine()[1]!.body).toEqual(mine()[0]!.body); // the same message, retried
    expect(s.logs.join('')).toMatch(
      /webhook:0: http:\/\/127\.0\.0\.1:\d+ could not take the webhook now \(HTTP 500: failure 500\); the notification stays queued/,
    );
  } finally {
    await worker.stop();
  }
  expect(hooks.received.filter((h) => h.path === '/retry/T0KEN')).toHaveLength(2);
  const samples = await s.scrape();
  expect(value(samples, 'xmpp_cert_notifications_sent_total', { channel: 'webhook:0' })).toBe(1);
  expect(value(samples, 'xmpp_cert_notifications_failed_total', { channel: 'webhook:0', reason: 'server_error' })).toBe(1);
  expect(s.queued('webhook:0')).toBe(0);
});

describe('twenty failures of one domain within the window: one message', () => {
  async function twentyFailures(notify: Record<string, unknown>, path: string) {
    const smtp = await startSmtpCapture();
    const s = await setup({
      email: { to: 'ops@example.test', host: '127.0.0.1', port: smtp.port },
      webhooks: [{ url: hooks.url(path), format: 'generic', allowInsecure: true }],
      ...notify,
    });
    const worker = s.worker();
    try {
      for (let i = 0; i < 20; i++) expect((await worker.renewDomain(DOMAIN, { force: true })).error?.reason).toBe('connection');
      // Delivered by the digest timer, not by stop().
      await waitFor(() => smtp.mails.length > 0 && hooks.received.some((h) => h.path === path), 15_000, 'the digest');
      await sleep(1500);
    } finally {
      await worker.stop();
      await smtp.stop();
    }
    return { mails: smtp.mails, received: hooks.received.filter((h) => h.path === path), s };
  }

  test('with dedupe (the default): the first failure is sent, the nineteen repeats are not', async () => {
    const { mails, received, s } = await twentyFailures({ digestWindow: '3s' }, '/twenty/dedupe');
    expect(mails).toHaveLength(1);
    expect(mails[0]!.parsed.subject).toBe(`[xmpp-cert] ${DOMAIN}: renewal failed (connection)`);
    expect(received).toHaveLength(1);
    expect((received[0]!.body as { events: unknown[] }).events).toHaveLength(1);
    expect(s.logs.join('').match(/not sent again/g)).toHaveLength(19);
  });

  test('with dedupe off: one digest message that counts twenty', async () => {
    const { mails, received } = await twentyFailures({ digestWindow: '8s', dedupe: 0 }, '/twenty/digest');
    expect(mails).toHaveLength(1);
    expect(mails[0]!.parsed.subject).toBe(`[xmpp-cert] ${DOMAIN}: renewal failed (connection) (20 times)`);
    expect(mails[0]!.parsed.text).toMatch(/20 times, from \S+ to \S+/);
    expect(received).toHaveLength(1);
    expect((received[0]!.body as { events: unknown[] }).events).toHaveLength(20);
  });
});
