/**
 * The express app through supertest, over a Report built by the real scanner from certificates
 * minted into a temp directory, and by the real prober from a direct-TLS endpoint of the test's
 * own on loopback. Also: docs/metrics.md lists exactly the metrics /metrics emits, and /probe
 * refuses targets it must not connect to.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { evaluate, type Report } from '../../src/evaluate';
import { createApp } from '../../src/http/app';
import { loadWebConfig, type WebConfig } from '../../src/http/web-config';
import { createMetrics } from '../../src/metrics';
import { InventoryScanner } from '../../src/sources/inventory';
import { LiveProber } from '../../src/sources/live';
import { createLogger } from '../../src/shared/log';
import { DAY, mint } from '../helpers/certs';
import { metricFamilies, parseMetrics, value } from '../helpers/metrics-text';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-app-'));
const certs = path.join(root, 'certs');
const stateDir = path.join(root, 'state');
let report: Report | undefined;
let web: WebConfig | undefined;
const metrics = createMetrics(
  () => report,
  () => stateDir,
);
let config: ReturnType<typeof loadConfig>['config'];
const app = createApp({ metrics, getReport: () => report, getConfig: () => config, log: createLogger('silent'), getWebConfig: () => web });

/** A direct-TLS (XEP-0368) endpoint serving example.org's certificate; counts connections. */
let tlsServer: tls.Server;
let connections = 0;
afterAll(() => tlsServer?.close());

beforeAll(async () => {
  // A worker's state file, so the renewal families (the heartbeat among them) are emitted.
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(path.join(stateDir, 'state.json'), JSON.stringify({ version: 1, heartbeat: Date.now() / 1000, groups: {} }));
  fs.mkdirSync(path.join(certs, 'example.org'), { recursive: true });
  const leaf = await mint({ names: ['example.org', 'conference.example.org'], notAfter: 50 * DAY });
  tlsServer = tls.createServer({ cert: leaf.pem, key: leaf.keyPem, ALPNProtocols: ['xmpp-client'] }, (socket) => socket.end());
  tlsServer.on('connection', () => connections++);
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  const port = (tlsServer.address() as AddressInfo).port;
  fs.writeFileSync(path.join(root, 'trusted.pem'), leaf.pem);
  fs.writeFileSync(path.join(certs, 'example.org', 'fullchain.pem'), leaf.pem);
  fs.writeFileSync(path.join(certs, 'example.org', 'privkey.pem'), leaf.keyPem);
  const wrong = await mint({ names: ['other.example'], notAfter: 5 * DAY });
  fs.writeFileSync(path.join(certs, 'upload.example.org.crt'), wrong.pem); // the wrong name
  fs.writeFileSync(path.join(certs, 'upload.example.org.key'), wrong.keyPem);
  fs.writeFileSync(path.join(certs, 'broken.pem'), 'garbage');
  const configFile = path.join(root, 'c.yml');
  fs.writeFileSync(
    configFile,
    [
      'prosody:\n  config: null\n  certs: certs',
      'domains: [example.org, upload.example.org, missing.example.net]',
      'thresholds:\n  warning: 14\n  critical: 7',
      `probes:\n  srv: false\n  ca: [trusted.pem]\n  timeout: 2s\n  allow: ["*.allowed.example"]`,
      `  endpoints:\n    - { domain: example.org, host: 127.0.0.1, port: ${port}, service: c2s, tls: direct }`,
    ].join('\n') + '\n',
  );
  config = loadConfig({ file: configFile, env: {} }).config;
  const inventory = await new InventoryScanner(config).scan();
  const prober = new LiveProber(config.probes, createLogger('silent'), () => undefined);
  await prober.runOnce(inventory.domains.map((d) => d.name));
  report = undefined;
  // Keep the evaluated report aside until the readiness test has seen the "starting" state.
  pending = evaluate(inventory, config.thresholds, inventory.scannedAt, prober.snapshot());
});
let pending: Report;

test('before the first scan: /readyz and /status say starting, /healthz answers', async () => {
  await request(app).get('/readyz').expect(503);
  await request(app).get('/status').expect(503);
  await request(app).get('/healthz').expect(200, 'ok\n');
  report = pending;
  await request(app).get('/readyz').expect(200);
});

test('/ links every endpoint', async () => {
  const res = await request(app).get('/').expect(200).expect('content-type', /html/);
  for (const href of ['/metrics', '/status', '/healthz', '/readyz']) expect(res.text).toContain(`href="${href}"`);
});

test('/metrics in the Prometheus text format', async () => {
  const res = await request(app)
    .get('/metrics')
    .expect(200)
    .expect('content-type', /text\/plain; version=0.0.4/);
  const samples = parseMetrics(res.text);
  expect(value(samples, 'xmpp_cert_domain_status', { domain: 'example.org', status: 'ok' })).toBe(1);
  expect(value(samples, 'xmpp_cert_domain_status', { domain: 'missing.example.net', status: 'missing' })).toBe(1);
  expect(value(samples, 'xmpp_cert_name_covered', { domain: 'upload.example.org' })).toBe(0);
  expect(value(samples, 'xmpp_cert_key_found', { domain: 'upload.example.org' })).toBe(1);
  expect(value(samples, 'xmpp_cert_file_errors', { reason: 'bad_pem' })).toBe(1);
  expect(value(samples, 'xmpp_cert_source_up', { source: 'certs_dir' })).toBe(1);
  expect(value(samples, 'xmpp_cert_build_info')).toBe(1);
});

test('/metrics: what the live endpoint served, judged against the file', async () => {
  const samples = parseMetrics((await request(app).get('/metrics').expect(200)).text);
  const endpoint = { domain: 'example.org', source: 'c2s_tls', target: `127.0.0.1:${(tlsServer.address() as AddressInfo).port}` };
  expect(value(samples, 'xmpp_cert_probe_success', endpoint)).toBe(1);
  expect(value(samples, 'xmpp_cert_trusted', endpoint)).toBe(1);
  expect(value(samples, 'xmpp_cert_name_covered', endpoint)).toBe(1);
  expect(value(samples, 'xmpp_cert_served_matches_disk', endpoint)).toBe(1);
  expect(value(samples, 'xmpp_cert_probe_failure', { ...endpoint, reason: 'timeout' })).toBe(0);
  const fileNotAfter = value(samples, 'xmpp_cert_not_after_timestamp_seconds', { domain: 'example.org', source: 'file' });
  expect(value(samples, 'xmpp_cert_not_after_timestamp_seconds', { ...endpoint, position: '0' })).toBe(fileNotAfter);
});

describe('/probe', () => {
  test('a watched domain is probed now, and only the endpoint families come back', async () => {
    const res = await request(app).get('/probe?target=example.org&module=c2s_tls').set('X-Prometheus-Scrape-Timeout-Seconds', '5').expect(200);
    const samples = parseMetrics(res.text);
    expect(value(samples, 'xmpp_cert_probe_success', { domain: 'example.org', source: 'c2s_tls' })).toBe(1);
    expect(value(samples, 'xmpp_cert_served_matches_disk', { domain: 'example.org' })).toBe(1);
    expect(metricFamilies(res.text).has('xmpp_cert_domain_status')).toBe(false);
  });

  test('targets outside the watched domains and probes.allow are refused without a connection', async () => {
    const before = connections;
    const refused = await request(app).get('/probe?target=evil.example&module=c2s_tls').expect(403);
    expect(refused.text).toContain('evil.example is not a watched domain');
    await request(app).get('/probe?module=c2s').expect(400);
    await request(app)
      .get('/probe?target=example.org&module=smtp')
      .expect(400, /unknown module "smtp"/);
    expect(connections).toBe(before);
  });

  test('probes.allow patterns are accepted', async () => {
    // Allowed, but nothing is configured for it and SRV is off: no endpoint, an empty answer (a
    // probe's answer holds only the families it found samples for, as blackbox_exporter's does).
    const res = await request(app)
      .get('/probe?target=chat.allowed.example&module=c2s')
      .expect(200)
      .expect('content-type', /text\/plain/);
    expect(res.text).toBe('');
  });
});

test('/status: the seed-shaped JSON report', async () => {
  const res = await request(app).get('/status').expect(200).expect('content-type', /json/);
  const byDomain = Object.fromEntries((res.body.domains as Array<{ domain: string; detail: string }>).map((d) => [d.domain, d]));
  expect(res.body.overall_status).toBe('missing');
  expect(byDomain['conference.example.org']).toBeUndefined();
  expect(byDomain['example.org']).toMatchObject({ status: 'ok', covered: true, key_found: true, days_left: 49 });
  expect(byDomain['upload.example.org']).toMatchObject({ covered: false, key_found: true, status: 'critical' });
  expect(byDomain['upload.example.org']!.detail).toContain('does not cover upload.example.org');
  expect(res.body.served).toEqual([expect.objectContaining({ domain: 'example.org', source: 'c2s_tls', ok: true, trusted: true, matches_disk: true })]);
});

test('unknown paths are 404', async () => {
  await request(app).get('/nope').expect(404);
});

describe('web-config.yml: basic auth and headers', () => {
  beforeAll(() => {
    const file = path.join(root, 'web-config.yml');
    fs.writeFileSync(file, `basic_auth_users:\n  prometheus: ${bcrypt.hashSync('s3cret', 4)}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n`);
    web = loadWebConfig(file);
  });
  afterAll(() => (web = undefined));

  test('no or wrong credentials: 401 with a challenge', async () => {
    await request(app).get('/metrics').expect(401).expect('www-authenticate', /Basic/);
    await request(app).get('/metrics').auth('prometheus', 'wrong').expect(401);
    await request(app).get('/metrics').auth('nobody', 's3cret').expect(401);
  });

  test('right credentials: 200, with the configured header', async () => {
    await request(app).get('/metrics').auth('prometheus', 's3cret').expect(200).expect('x-frame-options', 'deny');
  });

  test('a web config with an unsupported or bad key is rejected with its key', () => {
    const file = path.join(root, 'bad-web.yml');
    fs.writeFileSync(file, 'tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [X]\nbasic_auth_users:\n  u: plaintext\n');
    expect(() => loadWebConfig(file)).toThrow(
      /tls_server_config\.client_allowed_sans: an exporter-toolkit key this exporter does not implement[\s\S]*basic_auth_users\.u: expected a bcrypt hash/,
    );
  });
});

test('no worker heartbeat series without a heartbeat in the state file (a 0 would page "last seen 1970")', async () => {
  const file = path.join(stateDir, 'state.json');
  const saved = fs.readFileSync(file);
  try {
    fs.writeFileSync(file, JSON.stringify({ version: 1, groups: {} }));
    const text = (await request(app).get('/metrics')).text;
    expect(text).not.toMatch(/^xmpp_cert_worker_heartbeat_timestamp_seconds/m);
    expect(text).toMatch(/^xmpp_cert_renewal_state_read_success 1$/m);
  } finally {
    fs.writeFileSync(file, saved);
  }
});

test("the heartbeat's setup and period: a timer's auto-renew, or the service (also for a file from before the mode was recorded)", async () => {
  const file = path.join(stateDir, 'state.json');
  const saved = fs.readFileSync(file);
  const interval = async (state: Record<string, unknown>) => {
    fs.writeFileSync(file, JSON.stringify({ version: 1, heartbeat: 1_750_000_000, groups: {}, ...state }));
    const text = (await request(app).get('/metrics')).text;
    return [...text.matchAll(/^xmpp_cert_worker_heartbeat_interval_seconds(\{.*\}) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
  };
  try {
    expect(await interval({ heartbeatMode: 'timer', heartbeatInterval: 43200 })).toEqual(['{mode="timer"} 43200']);
    expect(await interval({})).toEqual(['{mode="service"} 60']);
    // A mode from a newer version is not a corrupt file: read as the service.
    expect(await interval({ heartbeatMode: 'cron', heartbeatInterval: 60 })).toEqual(['{mode="service"} 60']);
  } finally {
    fs.writeFileSync(file, saved);
  }
});

test('docs/metrics.md lists exactly the xmpp_cert_ metrics that /metrics emits', async () => {
  const doc = fs.readFileSync(path.join(__dirname, '../../docs/metrics.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `(xmpp_cert_[a-z_]+)` \|/gm)].map((m) => m[1]!));
  const emitted = [...metricFamilies((await request(app).get('/metrics')).text)].filter((n) => n.startsWith('xmpp_cert_'));
  expect([...documented].sort()).toEqual(emitted.sort());
});
