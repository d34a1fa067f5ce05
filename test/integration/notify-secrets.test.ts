/**
 * No SMTP password, webhook token (URL path or query) or header value appears in any log line of
 * a real `xmpp-cert worker` (at debug level, through failed and successful deliveries), in
 * `notify test` and `config` output, at /metrics of a real `xmpp-cert serve`, or in the files the
 * worker writes (notify.json, the outbox, the alert log), while the servers did receive them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { WebhookChannel } from '../../src/notify/webhook';
import { testEvent } from '../../src/notify/events';
import { DAY, makeCA, mint } from '../helpers/certs';
import { CLI, startCli, waitFor } from '../helpers/process';
import { freePort } from '../helpers/prosody-server';
import { startSmtpCapture, type SmtpCapture } from '../helpers/smtp-capture';
import { startWebhookCapture, type WebhookCapture } from '../helpers/webhook-capture';

jest.setTimeout(45_000);
const SECRETS = {
  wrongPassword: 'PW-SECRET-WRONG-1',
  password: 'PW-SECRET-RIGHT-2',
  path: 'T0KEN-PATH-SECRET',
  query: 'QUERY-SECRET-3',
  header: 'HEADER-SECRET-4',
};

let smtp: SmtpCapture;
let hooks: WebhookCapture;
const children = new Set<ChildProcess>();
beforeAll(async () => {
  const ca = await makeCA('Test SMTP CA');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-notify-ca-'));
  fs.writeFileSync(path.join(root, 'ca.pem'), ca.pem);
  const server = await mint({ names: ['localhost'], notAfter: DAY, issuer: ca });
  smtp = await startSmtpCapture({ tls: { cert: server.pem, key: server.keyPem }, auth: { user: 'alerts', password: SECRETS.password } });
  hooks = await startWebhookCapture();
  caFile = path.join(root, 'ca.pem');
});
let caFile: string;
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await smtp?.stop();
  await hooks?.stop();
});

function run(args: string[], env: Record<string, string> = {}): { done: Promise<number | null>; output: () => string; child: ChildProcess } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return { done: new Promise((resolve) => child.once('exit', resolve)), output: () => output, child };
}

const allFiles = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));

test('no password, webhook token or header value in any log line, output, metric or file', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-notify-secrets-'));
  fs.mkdirSync(path.join(root, 'certs'));
  fs.writeFileSync(path.join(root, 'smtp-password'), SECRETS.password, { mode: 0o600 });
  const email = { to: 'ops@example.test', host: 'localhost', port: smtp.port, requireTLS: true, ca: [caFile], user: 'alerts' };
  const config = (emailExtra: Record<string, unknown>) => ({
    prosody: { config: null, certs: 'certs' },
    domains: ['example.test'],
    probes: { enabled: false },
    logging: { level: 'debug', alertLog: 'alerts.log' },
    renewal: {
      stateDir: 'state',
      jitter: 0,
      retry: { count: 1, delay: 0 },
      backoff: { initial: '1h', max: '1h' },
      issuers: [{ type: 'acme', directory: `https://127.0.0.1:${PORT}/dir`, challenge: { type: 'http-01', listen: `127.0.0.1:${PORT2}` } }],
    },
    notify: {
      email: { ...email, ...emailExtra },
      webhooks: [
        {
          url: `${hooks.url(`/hooks/${SECRETS.path}`)}?token=${SECRETS.query}`,
          format: 'slack',
          allowInsecure: true,
          headers: { Authorization: `Bearer ${SECRETS.header}` },
        },
      ],
      digestWindow: 0,
      retry: { initial: '1s', max: '1s' },
    },
  });
  const PORT = await freePort();
  const PORT2 = await freePort();
  const file = path.join(root, 'xmpp-cert.yml');

  // The worker: the password from the environment (wrong), the webhook failing once.
  fs.writeFileSync(file, JSON.stringify(config({})));
  hooks.answer(500);
  const worker = run(['worker', '--config', file], { XMPP_CERT_SMTP_PASSWORD: SECRETS.wrongPassword });
  await waitFor(() => worker.output().includes('SMTP authentication failed') && hooks.received.some((h) => h.status === 200), 20_000, 'both deliveries tried');
  worker.child.kill('SIGTERM');
  expect(await worker.done).toBe(0);

  // The right password from a file: `notify test`, `config`, and /metrics of the exporter.
  fs.writeFileSync(file, JSON.stringify(config({ passwordFile: 'smtp-password' })));
  const tested = run(['notify', 'test', '--config', file]);
  expect(await tested.done).toBe(0);
  const shown = run(['config', '--config', file]);
  expect(await shown.done).toBe(0);
  const serve = await startCli(['serve', '--config', file, '--listen', '127.0.0.1:0']);
  const metrics = await (await fetch(`${serve.url}/metrics`)).text();
  await serve.stop();

  // The secrets were used ...
  expect(smtp.failedLogins).toContain('alerts');
  expect(smtp.mails.some((m) => m.user === 'alerts')).toBe(true);
  expect(hooks.received.every((h) => h.path.includes(SECRETS.path) && h.headers.authorization === `Bearer ${SECRETS.header}`)).toBe(true);
  expect(metrics).toMatch(/^xmpp_cert_notifications_failed_total\{channel="email",reason="auth"\} [1-9]$/m); // retried every second
  expect(metrics).toContain('xmpp_cert_notifications_sent_total{channel="webhook:0"} 1');
  // ... and are nowhere else.
  const places: Record<string, string> = {
    'worker log': worker.output(),
    'notify test': tested.output(),
    config: shown.output(),
    'serve log': serve.output(),
    '/metrics': metrics,
  };
  for (const f of allFiles(root).filter((f) => !f.endsWith('xmpp-cert.yml') && !f.endsWith('smtp-password') && !f.includes('/accounts/')))
    places[f] = fs.readFileSync(f, 'utf8');
  expect(Object.keys(places)).toEqual(expect.arrayContaining([path.join(root, 'state', 'notify.json'), path.join(root, 'alerts.log')]));
  expect(allFiles(path.join(root, 'state', 'outbox'))).toHaveLength(1); // the mail, still queued: checked above too
  for (const [where, text] of Object.entries(places)) {
    for (const secret of Object.values(SECRETS)) expect({ where, leaked: text.includes(secret) ? secret : undefined }).toEqual({ where, leaked: undefined });
  }
  expect(worker.output()).toContain('"channel":"webhook:0"');
});

test('a webhook answer that echoes the request: the error quotes it without the token or header', async () => {
  const echo = http.createServer((req, res) => res.writeHead(400).end(`bad request to ${req.url} with ${req.headers.authorization}`));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}/services/${SECRETS.path}-0123456789?token=${SECRETS.query}`;
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-notify-echo-'));
    fs.writeFileSync(
      path.join(root, 'c.yml'),
      JSON.stringify({ notify: { webhooks: [{ url, allowInsecure: true, headers: { Authorization: SECRETS.header } }] } }),
    );
    const hook = loadConfig({ file: path.join(root, 'c.yml'), env: {} }).config.notify.webhooks[0]!;
    const err = await new WebhookChannel(hook, 'webhook:0').send([testEvent(Date.now() / 1000, 'here')]).then(
      () => new Error('expected a refusal'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toMatch(/^http:\/\/127\.0\.0\.1:\d+ refused the webhook \(HTTP 400: bad request to <redacted> with <redacted>\)$/);
    for (const secret of Object.values(SECRETS)) expect(err.message).not.toContain(secret);
  } finally {
    echo.close();
  }
});
