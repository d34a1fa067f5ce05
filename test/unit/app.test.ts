/**
 * The express app through supertest, over a Report built by the real scanner from certificates
 * minted into a temp directory. Also: docs/metrics.md lists exactly the metrics /metrics emits.
 */
import fs from 'node:fs';
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
import { DAY, mint } from '../helpers/certs';
import { metricFamilies, parseMetrics, value } from '../helpers/metrics-text';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-app-'));
const certs = path.join(root, 'certs');
let report: Report | undefined;
let web: WebConfig | undefined;
const metrics = createMetrics(() => report);
const app = createApp({ metrics, getReport: () => report, getWebConfig: () => web });

beforeAll(async () => {
  fs.mkdirSync(path.join(certs, 'example.org'), { recursive: true });
  const leaf = await mint({ names: ['example.org', 'conference.example.org'], notAfter: 50 * DAY });
  fs.writeFileSync(path.join(certs, 'example.org', 'fullchain.pem'), leaf.pem);
  fs.writeFileSync(path.join(certs, 'example.org', 'privkey.pem'), leaf.keyPem);
  const wrong = await mint({ names: ['other.example'], notAfter: 5 * DAY });
  fs.writeFileSync(path.join(certs, 'upload.example.org.crt'), wrong.pem); // the wrong name
  fs.writeFileSync(path.join(certs, 'upload.example.org.key'), wrong.keyPem);
  fs.writeFileSync(path.join(certs, 'broken.pem'), 'garbage');
  const configFile = path.join(root, 'c.yml');
  fs.writeFileSync(configFile, `prosody:\n  config: null\n  certs: certs\ndomains: [example.org, upload.example.org, missing.example.net]\nthresholds:\n  warning: 14\n  critical: 7\n`);
  const { config } = loadConfig({ file: configFile, env: {} });
  const inventory = await new InventoryScanner(config).scan();
  report = undefined;
  // Keep the evaluated report aside until the readiness test has seen the "starting" state.
  pending = evaluate(inventory, config.thresholds, inventory.scannedAt);
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
  const res = await request(app).get('/metrics').expect(200).expect('content-type', /text\/plain; version=0.0.4/);
  const samples = parseMetrics(res.text);
  expect(value(samples, 'xmpp_cert_domain_status', { domain: 'example.org', status: 'ok' })).toBe(1);
  expect(value(samples, 'xmpp_cert_domain_status', { domain: 'missing.example.net', status: 'missing' })).toBe(1);
  expect(value(samples, 'xmpp_cert_name_covered', { domain: 'upload.example.org' })).toBe(0);
  expect(value(samples, 'xmpp_cert_key_found', { domain: 'upload.example.org' })).toBe(1);
  expect(value(samples, 'xmpp_cert_file_errors', { reason: 'bad_pem' })).toBe(1);
  expect(value(samples, 'xmpp_cert_source_up', { source: 'certs_dir' })).toBe(1);
  expect(value(samples, 'xmpp_cert_build_info')).toBe(1);
});

test('/status: the seed-shaped JSON report', async () => {
  const res = await request(app).get('/status').expect(200).expect('content-type', /json/);
  const byDomain = Object.fromEntries((res.body.domains as Array<{ domain: string; detail: string }>).map((d) => [d.domain, d]));
  expect(res.body.overall_status).toBe('missing');
  expect(byDomain['conference.example.org']).toBeUndefined();
  expect(byDomain['example.org']).toMatchObject({ status: 'ok', covered: true, key_found: true, days_left: 49 });
  expect(byDomain['upload.example.org']).toMatchObject({ covered: false, key_found: true, status: 'critical' });
  expect(byDomain['upload.example.org']!.detail).toContain('does not cover upload.example.org');
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
    fs.writeFileSync(file, 'tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [X]\nbasic_auth_users:\n  u: plaintext\n');
    expect(() => loadWebConfig(file)).toThrow(/tls_server_config\.cipher_suites: unknown key[\s\S]*basic_auth_users\.u: expected a bcrypt hash/);
  });
});

test('docs/metrics.md lists exactly the xmpp_cert_ metrics that /metrics emits', async () => {
  const doc = fs.readFileSync(path.join(__dirname, '../../docs/metrics.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `(xmpp_cert_[a-z_]+)` \|/gm)].map((m) => m[1]!));
  const emitted = [...metricFamilies((await request(app).get('/metrics')).text)].filter((n) => n.startsWith('xmpp_cert_'));
  expect([...documented].sort()).toEqual(emitted.sort());
});
