/**
 * Renewal events from a real worker reach a real SMTP server of the test's own (STARTTLS with a
 * certificate minted here for a private CA, AUTH required after STARTTLS; read with mailparser)
 * and a local HTTP receiver in the slack, discord and generic formats. The four events come from
 * real outcomes: the self-signed issuer renews, an ACME CA on a closed port fails, that failure
 * with a self-signed issuer behind it falls back, and an endpoint of the test's own that keeps
 * serving the old certificate fails verification. A wrong password and a refused recipient give
 * clear errors, counters at /metrics (the exporter's reader) and a queued message; `xmpp-cert notify
 * test` reports each channel.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { loadConfig } from '../../src/config';
import { createMetrics } from '../../src/metrics';
import { EmailChannel } from '../../src/notify/email';
import { NotifyError } from '../../src/notify/errors';
import { testEvent } from '../../src/notify/events';
import { Worker } from '../../src/processes/worker';
import { createLogger } from '../../src/shared/log';
import { DAY, makeCA, mint } from '../helpers/certs';
import { parseMetrics, value } from '../helpers/metrics-text';
import { CLI, waitFor } from '../helpers/process';
import { freePort } from '../helpers/prosody-server';
import { startSmtpCapture, type CapturedMail, type SmtpCapture } from '../helpers/smtp-capture';
import { startWebhookCapture, type ReceivedHook, type WebhookCapture } from '../helpers/webhook-capture';

jest.setTimeout(30_000);
const DOMAIN = 'example.test';
const PASSWORD = 'correct-horse-battery';
const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/;

let smtp: SmtpCapture;
let hooks: WebhookCapture;
let caFile: string;
let ca: Awaited<ReturnType<typeof makeCA>>;
let oldCertServer: tls.Server;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-notify-channels-'));

beforeAll(async () => {
  ca = await makeCA('Test SMTP CA');
  caFile = path.join(root, 'smtp-ca.pem');
  fs.writeFileSync(caFile, ca.pem);
  const server = await mint({ names: ['localhost'], notAfter: DAY, issuer: ca });
  smtp = await startSmtpCapture({
    tls: { cert: server.pem, key: server.keyPem },
    auth: { user: 'alerts', password: PASSWORD },
    refuse: (a) => a.startsWith('nobody@'),
  });
  hooks = await startWebhookCapture();
  // Direct TLS for example.test that never changes: whatever the worker installs, this serves the old one.
  const old = await mint({ names: [DOMAIN], notAfter: 30 * DAY });
  oldCertServer = tls.createServer({ cert: old.pem, key: old.keyPem }, (socket) => socket.end());
  await new Promise<void>((resolve) => oldCertServer.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  await smtp?.stop();
  await hooks?.stop();
  oldCertServer?.close();
});

interface Scenario {
  file: string;
  stateDir: string;
  logs: string[];
  worker: () => Worker;
}

/** A config with every channel; `renewal` picks the issuers and so the outcome. */
function scenario(name: string, renewal: Record<string, unknown>, extra: { probes?: unknown; email?: Record<string, unknown> } = {}): Scenario {
  const dir = path.join(root, name);
  fs.mkdirSync(path.join(dir, 'certs'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'smtp-password'), `${PASSWORD}\n`, { mode: 0o600 });
  const hook = (format: string) => ({ url: hooks.url(`/${name}/${format}/T0KEN`), name: format, format, allowInsecure: true });
  const config = {
    prosody: { config: null, certs: 'certs' },
    domains: [DOMAIN],
    probes: extra.probes ?? { enabled: false },
    logging: { alertLog: 'alerts.log' },
    renewal: { stateDir: 'state', jitter: 0, retry: { count: 1, delay: 0 }, backoff: { initial: '1h', max: '1h' }, verify: { timeout: '1s' }, ...renewal },
    notify: {
      email: {
        to: 'ops@example.test',
        from: 'xmpp-cert@example.test',
        host: 'localhost',
        port: smtp.port,
        requireTLS: true,
        ca: [caFile],
        user: 'alerts',
        passwordFile: 'smtp-password',
        ...extra.email,
      },
      webhooks: [hook('slack'), hook('discord'), hook('generic')],
    },
  };
  const file = path.join(dir, 'xmpp-cert.yml');
  fs.writeFileSync(file, JSON.stringify(config));
  const logs: string[] = [];
  const log = createLogger('info', { write: (line: string) => void logs.push(line) });
  return { file, stateDir: path.join(dir, 'state'), logs, worker: () => new Worker(loadConfig({ file, env: {} }), log, { step: () => undefined }) };
}

const closedAcme = async () => ({
  type: 'acme',
  directory: `https://127.0.0.1:${await freePort()}/dir`,
  challenge: { type: 'http-01', listen: `127.0.0.1:${await freePort()}` },
});

async function renewOnce(s: Scenario) {
  const worker = s.worker();
  try {
    return await worker.renewDomain(DOMAIN, {});
  } finally {
    await worker.stop(); // delivers what is queued without waiting for the digest window
  }
}

const mailFor = (name: string) => waitFor(() => smtp.mails.find((m) => m.parsed.subject?.includes(name)), 10_000, `a mail about ${name}`);
const hooksFor = (name: string) =>
  waitFor(
    () => (hooks.received.filter((h) => h.path.startsWith(`/${name}/`)).length >= 3 ? hooks.received.filter((h) => h.path.startsWith(`/${name}/`)) : undefined),
    10_000,
    `3 webhooks for ${name}`,
  );
/** One exporter registry for the file (as one exporter process has), pointed at each scenario's state. */
let scrapedDir = '';
const metrics = createMetrics(
  () => undefined,
  () => scrapedDir,
);
const scrape = async (stateDir: string) => {
  scrapedDir = stateDir;
  return parseMetrics(Buffer.concat(await metrics.expose()).toString());
};

/** The CLI as a process, without blocking this process's SMTP and HTTP receivers (spawnSync would). */
function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CERT_|PROSODY_DOMAIN|LETSENCRYPT_EMAIL|XMPP_CERT_)/.test(k)));
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Each channel got the event with the domain, the words and a time in it. */
function expectEverywhere(mail: CapturedMail, received: ReceivedHook[], type: string, words: RegExp[]) {
  expect(mail.secure).toBe(true); // STARTTLS happened (AUTH is offered only after it) ...
  expect(mail.user).toBe('alerts'); // ... and the login with the password file worked
  expect(mail.envelopeTo).toEqual(['ops@example.test']);
  const htmlText = String(mail.parsed.html);
  for (const text of [mail.parsed.text ?? '', htmlText]) {
    expect(text).toContain(DOMAIN);
    expect(text).toMatch(ISO);
    for (const word of words) expect(text).toMatch(word);
  }
  const by = (format: string) => received.find((h) => h.path.includes(`/${format}/`))!.body as Record<string, unknown>;
  const generic = by('generic') as { events: Array<Record<string, unknown>> };
  expect(generic.events).toEqual([expect.objectContaining({ type, domain: DOMAIN, time: expect.any(Number) })]);
  for (const text of [String(by('slack').text), String(by('discord').content)]) {
    expect(text).toContain(DOMAIN);
    expect(text).toMatch(ISO);
    for (const word of words) expect(text).toMatch(word);
  }
}

test('each event reaches each channel with the domain, the reason and the times', async () => {
  const succeeded = scenario('succeeded', { issuers: [{ type: 'selfsigned', lifetime: '7d' }] });
  expect((await renewOnce(succeeded)).result).toBe('renewed');
  expectEverywhere(await mailFor(`${DOMAIN}: renewed`), await hooksFor('succeeded'), 'renewal_succeeded', [/issuer: selfsigned/, /valid until: \d{4}/]);

  const failed = scenario('failed', { issuers: [await closedAcme()] });
  expect((await renewOnce(failed)).result).toBe('failed');
  expectEverywhere(await mailFor(`${DOMAIN}: renewal failed (connection)`), await hooksFor('failed'), 'renewal_failed', [
    /renewal failed \(connection\)/,
    /next attempt: \d{4}/,
    /failed runs in a row: 1/,
  ]);
  const generic = (await hooksFor('failed')).find((h) => h.path.includes('/generic/'))!.body as { events: Array<Record<string, unknown>> };
  expect(generic.events[0]).toMatchObject({ reason: 'connection', nextAttempt: expect.any(Number), message: expect.stringContaining(DOMAIN) });

  const fallback = scenario('fallback', { issuers: [await closedAcme(), { type: 'selfsigned', lifetime: '7d' }] });
  expect((await renewOnce(fallback)).result).toBe('fallback');
  expectEverywhere(await mailFor(`${DOMAIN}: self-signed fallback in use`), await hooksFor('fallback'), 'fallback_in_use', [/\(connection\)/, /federation/]);

  const port = (oldCertServer.address() as AddressInfo).port;
  const probes = { enabled: true, srv: false, timeout: '1s', endpoints: [{ domain: DOMAIN, host: '127.0.0.1', port, service: 'c2s', tls: 'direct' }] };
  const verify = scenario('verify', { issuers: [{ type: 'selfsigned', lifetime: '7d' }] }, { probes });
  expect((await renewOnce(verify)).error?.reason).toBe('verify');
  expectEverywhere(await mailFor('the old certificate is still served'), await hooksFor('verify'), 'verify_failed', [
    /still serving the previous certificate/,
    new RegExp(`127\\.0\\.0\\.1:${port}`),
  ]);

  // The alert log has every event too, one JSON line each.
  const alerts = fs
    .readFileSync(path.join(root, 'failed', 'alerts.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(alerts).toEqual([expect.objectContaining({ event: 'renewal_failed', domain: DOMAIN, reason: 'connection', nextAttempt: expect.any(Number) })]);
  const counted = await scrape(succeeded.stateDir);
  for (const channel of ['email', 'webhook:slack', 'webhook:discord', 'webhook:generic']) {
    expect(value(counted, 'xmpp_cert_notifications_sent_total', { channel })).toBe(1);
    expect(value(counted, 'xmpp_cert_notification_outbox_events', { channel })).toBe(0);
  }
});

test('a wrong password: a clear error naming user and server, counted, and the message kept queued', async () => {
  const s = scenario('badpassword', { issuers: [await closedAcme()] });
  fs.writeFileSync(path.join(path.dirname(s.file), 'smtp-password'), 'wrong-password-42\n');
  await renewOnce(s);
  await hooksFor('badpassword'); // the webhooks are not held up by the mail
  const log = s.logs.join('');
  expect(log).toContain(
    `email: SMTP authentication failed for user alerts at localhost:${smtp.port} (check notify.email.user and passwordFile / XMPP_CERT_SMTP_PASSWORD)`,
  );
  expect(log).not.toContain('wrong-password-42');
  expect(smtp.failedLogins).toContain('alerts');
  const samples = await scrape(s.stateDir);
  expect(value(samples, 'xmpp_cert_notifications_failed_total', { channel: 'email', reason: 'auth' })).toBe(1);
  expect(value(samples, 'xmpp_cert_notification_outbox_events', { channel: 'email' })).toBe(1);
  expect(value(samples, 'xmpp_cert_notifications_sent_total', { channel: 'webhook:generic' })).toBe(1);

  const cli = await runCli(['notify', 'test', '--config', s.file]);
  expect(cli.status).toBe(1);
  expect(cli.stdout).toContain(`email: error: SMTP authentication failed for user alerts at localhost:${smtp.port}`);
  expect(cli.stdout).toMatch(/^webhook:slack: ok \(slack webhook at http:\/\/127\.0\.0\.1:\d+\/<redacted>\)$/m);
  expect(cli.stdout + cli.stderr).not.toMatch(/wrong-password-42|T0KEN/);
});

test('a refused recipient: the error names it, reason recipient', async () => {
  const s = scenario('refused', { issuers: [await closedAcme()] }, { email: { to: 'nobody@example.test' } });
  await renewOnce(s);
  expect(s.logs.join('')).toMatch(/email: the SMTP server at localhost:\d+ refused the recipient nobody@example\.test \(check notify\.email\.to\)/);
  expect(value(await scrape(s.stateDir), 'xmpp_cert_notifications_failed_total', { channel: 'email', reason: 'recipient' })).toBe(1);
});

test('`xmpp-cert notify test` sends a test message through every channel now and reports each', async () => {
  const s = scenario('cli', { issuers: [{ type: 'selfsigned' }] });
  const cli = await runCli(['notify', 'test', '--config', s.file]);
  expect(cli.stderr).toBe('');
  expect(cli.stdout.trim().split('\n')).toEqual([
    `email: ok (to ops@example.test via localhost:${smtp.port} (STARTTLS, as alerts))`,
    expect.stringMatching(/^webhook:slack: ok/),
    expect.stringMatching(/^webhook:discord: ok/),
    expect.stringMatching(/^webhook:generic: ok/),
  ]);
  expect(cli.status).toBe(0);
  const mail = await waitFor(() => smtp.mails.find((m) => m.parsed.subject?.includes('test message')), 5000, 'the test mail');
  expect(mail.parsed.text).toContain('this channel works');
  expect(fs.existsSync(path.join(s.stateDir, 'outbox'))).toBe(false); // not through the outbox
});

describe('TLS to the SMTP server', () => {
  const send = (port: number, extra: Partial<ConstructorParameters<typeof EmailChannel>[0]>) =>
    new EmailChannel({
      to: 'ops@example.test',
      from: 'xmpp-cert@example.test',
      host: 'localhost',
      port,
      secure: false,
      requireTLS: true,
      ca: [caFile],
      timeout: 5,
      events: [],
      ...extra,
    }).send([testEvent(Date.now() / 1000, 'here')]);

  test('implicit TLS (secure: true) with the private CA delivers', async () => {
    const server = await mint({ names: ['localhost'], notAfter: DAY, issuer: ca });
    const smtps = await startSmtpCapture({ tls: { cert: server.pem, key: server.keyPem }, implicitTls: true });
    try {
      await send(smtps.port, { secure: true });
      expect(smtps.mails).toEqual([expect.objectContaining({ secure: true })]);
    } finally {
      await smtps.stop();
    }
  });

  test('no STARTTLS offered, or a certificate from an unknown CA: reason tls, nothing sent', async () => {
    const plain = await startSmtpCapture();
    const stranger = await mint({ names: ['localhost'], notAfter: DAY, issuer: await makeCA('Unknown CA') });
    const untrusted = await startSmtpCapture({ tls: { cert: stranger.pem, key: stranger.keyPem } });
    try {
      const noStarttls = await send(plain.port, {}).catch((e: unknown) => e as NotifyError);
      expect(noStarttls).toMatchObject({
        reason: 'tls',
        message: expect.stringMatching(new RegExp(`^TLS with the SMTP server at localhost:${plain.port} failed: .*STARTTLS`)),
      });
      const unknownCa = await send(untrusted.port, {}).catch((e: unknown) => e as NotifyError);
      expect(unknownCa).toMatchObject({ reason: 'tls', message: expect.stringContaining('notify.email.ca') });
      expect(plain.mails).toEqual([]);
      expect(untrusted.mails).toEqual([]);
    } finally {
      await plain.stop();
      await untrusted.stop();
    }
  });
});
