/**
 * /metrics as Prometheus' client libraries answer it: the format by `Accept` (OpenMetrics 1.0 or
 * the text format 0.0.4), gzip by `Accept-Encoding`, decoded here with node's gunzip and compared
 * line by line with the plain answer; the writer's OpenMetrics differences (counter families
 * without `_total`, `# EOF`, HELP escaping); the gzip member built from a head deflated once.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { evaluate, type Report } from '../../src/evaluate';
import { createApp } from '../../src/http/app';
import { createMetrics, renderReport } from '../../src/metrics';
import { deflateHead, gzipMember } from '../../src/metrics/gzip-member';
import { TextWriter } from '../../src/metrics/text-format';
import { createLogger } from '../../src/shared/log';
import { InventoryScanner } from '../../src/sources/inventory';
import { DAY, mint } from '../helpers/certs';
import { parseMetrics } from '../helpers/metrics-text';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-expo-'));
let report: Report | undefined;
const metrics = createMetrics(
  () => report,
  () => path.join(root, 'state'),
);
let config: ReturnType<typeof loadConfig>['config'];
const app = createApp({ metrics, getReport: () => report, getConfig: () => config, log: createLogger('silent'), getWebConfig: () => undefined });

const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

beforeAll(async () => {
  const certs = path.join(root, 'certs');
  for (const [name, days] of [
    ['a.example', 40],
    ['b.example', 3],
  ] as const) {
    fs.mkdirSync(path.join(certs, name), { recursive: true });
    const cert = await mint({ names: [name], notAfter: days * DAY });
    fs.writeFileSync(path.join(certs, name, 'fullchain.pem'), cert.pem);
    fs.writeFileSync(path.join(certs, name, 'privkey.pem'), cert.keyPem);
  }
  fs.writeFileSync(path.join(root, 'c.yml'), 'prosody:\n  config: null\n  certs: certs\ndomains: [a.example, b.example]\nprobes:\n  enabled: false\n');
  config = loadConfig({ file: path.join(root, 'c.yml'), env: {} }).config;
  const inventory = await new InventoryScanner(config).scan();
  report = evaluate(inventory, config.thresholds, inventory.scannedAt);
});

let server: http.Server;
beforeAll(async () => {
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

/** The bytes as they travel (supertest would gunzip them on its own), and the headers. */
function raw(headers: Record<string, string>): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

/** Samples without the process facts that move between two scrapes (CPU, memory, scrape durations). */
const stable = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('xmpp_cert_') && !l.startsWith('xmpp_cert_scrape_duration'))
    .sort();

describe('format negotiation', () => {
  test.each([
    [undefined, 'text'],
    ['*/*', 'text'],
    ['text/plain', 'text'],
    ['text/plain;version=0.0.4;q=0.9,*/*;q=0.1', 'text'],
    [PROMETHEUS_ACCEPT, 'openmetrics'],
    ['application/openmetrics-text', 'openmetrics'],
    ['application/openmetrics-text; version=0.0.1', 'openmetrics'],
    ['text/plain;q=0.5, application/openmetrics-text', 'openmetrics'],
    ['application/openmetrics-text;q=0.3, text/plain', 'text'],
    ['application/openmetrics-text;version=2.0.0, text/plain;q=0.2', 'text'],
    ['application/json', 'text'],
  ])('Accept: %s -> %s', async (accept, format) => {
    const req = request(app).get('/metrics');
    const res = await (accept === undefined ? req : req.set('Accept', accept));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(
      format === 'text' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/openmetrics-text; version=1.0.0; charset=utf-8',
    );
    expect(res.headers.vary).toBe('Accept, Accept-Encoding');
    const text = res.text;
    expect(text.endsWith('# EOF\n')).toBe(format === 'openmetrics');
  });

  test('OpenMetrics: counter families without _total, samples with it; same values as the text format', async () => {
    const om = (await request(app).get('/metrics').set('Accept', PROMETHEUS_ACCEPT)).text;
    const text = (await request(app).get('/metrics')).text;
    metrics.scanFinished(0.5, 2);
    expect(om).toContain('# TYPE xmpp_cert_files_parsed counter\nxmpp_cert_files_parsed_total 0\n');
    expect(text).toContain('# TYPE xmpp_cert_files_parsed_total counter\nxmpp_cert_files_parsed_total 0\n');
    const counted = (await request(app).get('/metrics').set('Accept', PROMETHEUS_ACCEPT)).text;
    expect(counted).toContain('xmpp_cert_files_parsed_total 2\n');
    expect(om).not.toMatch(/^# TYPE \S+_total counter/m);
    // No blank line anywhere (OpenMetrics forbids them), EOF once and last.
    expect(om).not.toMatch(/\n\n/);
    expect(om.match(/# EOF/g)).toHaveLength(1);
    expect(stable(om.replace(/# EOF\n$/, ''))).toEqual(stable(text));
  });
});

describe('gzip', () => {
  test.each([
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['deflate', false],
    ['gzip;q=0, identity', false],
    ['*', true],
    [undefined, false],
  ])('Accept-Encoding: %s -> gzip %s', async (encoding, gzip) => {
    const res = await raw(encoding === undefined ? {} : { 'Accept-Encoding': encoding });
    const body = res.body;
    expect(res.headers['content-encoding']).toBe(gzip ? 'gzip' : undefined);
    expect(Number(res.headers['content-length'])).toBe(body.length);
    const text = (gzip ? zlib.gunzipSync(body) : body).toString();
    expect(parseMetrics(text).length).toBeGreaterThan(50);
    expect(stable(text)).toEqual(stable((await request(app).get('/metrics')).text));
  });

  test('both formats gzip; the decoded text equals the plain answer; one gzip member', async () => {
    for (const accept of ['text/plain', PROMETHEUS_ACCEPT]) {
      const zipped = (await raw({ Accept: accept, 'Accept-Encoding': 'gzip' })).body;
      const plain = (await request(app).get('/metrics').set('Accept', accept)).text;
      const text = zlib.gunzipSync(zipped).toString();
      expect(stable(text)).toEqual(stable(plain));
      expect(text.endsWith('# EOF\n')).toBe(accept !== 'text/plain');
      // A second member would start with 1f 8b again after the first member's trailer; gunzip
      // with multi-member off (inflateRaw over the deflate data) must consume everything.
      const inflated = zlib.inflateRawSync(zipped.subarray(10, zipped.length - 8));
      expect(inflated.toString()).toBe(text);
      expect(zipped.readUInt32LE(zipped.length - 4)).toBe(Buffer.byteLength(text));
    }
  });

  test('a new Report is deflated anew: the gzip answer follows the scan', async () => {
    const before = zlib.gunzipSync((await raw({ 'Accept-Encoding': 'gzip' })).body).toString();
    const saved = report!;
    report = { ...saved, scannedAt: saved.scannedAt + 1 };
    try {
      const after = zlib.gunzipSync((await raw({ 'Accept-Encoding': 'gzip' })).body).toString();
      expect(after).toContain(`xmpp_cert_last_scan_timestamp_seconds ${saved.scannedAt + 1}\n`);
      expect(before).toContain(`xmpp_cert_last_scan_timestamp_seconds ${saved.scannedAt}\n`);
    } finally {
      report = saved;
    }
  });
});

describe('gzipMember', () => {
  test.each([
    ['empty head', [], ['tail\n']],
    ['empty tail', ['a\n', 'b\n'], []],
    ['both empty', [], []],
    ['many chunks', Array.from({ length: 300 }, (_, i) => `line ${i} ${'x'.repeat(i)}\n`), ['# EOF\n']],
  ])('%s: gunzip gives head + tail', async (_name, head: string[], tail: string[]) => {
    const h = await deflateHead(head.map((s) => Buffer.from(s)));
    const body = Buffer.concat(
      gzipMember(
        h,
        tail.map((s) => Buffer.from(s)),
      ),
    );
    expect(zlib.gunzipSync(body).toString()).toBe([...head, ...tail].join(''));
  });

  test('a head is reused with different tails', async () => {
    const head = await deflateHead([Buffer.from('shared head\n'.repeat(1000))]);
    for (const tail of ['one\n', 'two two\n']) {
      expect(zlib.gunzipSync(Buffer.concat(gzipMember(head, [Buffer.from(tail)]))).toString()).toBe('shared head\n'.repeat(1000) + tail);
    }
  });
});

describe('TextWriter formats', () => {
  test('OpenMetrics HELP escapes the double quote; the text format does not', () => {
    for (const format of ['text', 'openmetrics'] as const) {
      const writer = new TextWriter(format);
      writer.family('t_total', 'Say "hi" \\ now.', 'counter', [{ labels: { a: 'x' }, value: 1 }]);
      writer.end();
      const text = Buffer.concat(writer.finish()).toString();
      expect(text).toBe(
        format === 'text'
          ? '# HELP t_total Say "hi" \\\\ now.\n# TYPE t_total counter\nt_total{a="x"} 1\n'
          : '# HELP t Say \\"hi\\" \\\\ now.\n# TYPE t counter\nt_total{a="x"} 1\n# EOF\n',
      );
    }
  });

  test('histogram samples keep their own names and labels', () => {
    const writer = new TextWriter('openmetrics');
    writer.family('t_seconds', 'H.', 'histogram', [
      { metricName: 't_seconds_bucket', labels: { le: '+Inf', kind: 'x' }, value: 2 },
      { metricName: 't_seconds_sum', labels: { kind: 'x' }, value: 0.5 },
      { metricName: 't_seconds_count', labels: { kind: 'x' }, value: 2 },
    ]);
    expect(Buffer.concat(writer.finish()).toString()).toContain('t_seconds_bucket{le="+Inf",kind="x"} 2\nt_seconds_sum{kind="x"} 0.5\n');
  });

  test('the report families are the same bytes in both formats: gauges whose HELP has no double quote', () => {
    const text = Buffer.concat(renderReport(report)).toString();
    expect([...text.matchAll(/^# TYPE \S+ (\w+)$/gm)].map((m) => m[1])).toEqual(expect.arrayContaining(['gauge']));
    expect([...new Set([...text.matchAll(/^# TYPE \S+ (\w+)$/gm)].map((m) => m[1]))]).toEqual(['gauge']);
    expect(text).not.toMatch(/^# HELP .*"/m);
  });
});
