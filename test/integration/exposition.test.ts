/**
 * /metrics of the real exporter process as real consumers read it:
 *   - `promtool check metrics` (Prometheus' own linter) on the text format, plain and gunzipped;
 *   - OpenMetrics through Debian's python3-prometheus-client OpenMetrics parser (strict: `# EOF`,
 *     counter naming, escaping), since promtool 2.42 reads only the text format;
 *   - a real Prometheus scraping through a recording TCP relay with its default headers: it asks
 *     for OpenMetrics and gzip, gets both, and stores the exporter's series.
 * The relay only copies bytes both ways and keeps the first request's and response's headers.
 */
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { DAY, mint } from '../helpers/certs';
import { startCli, waitFor, type Running } from '../helpers/process';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus-server';
import { describeWithTools } from '../helpers/tools';

/** Debian's interpreter: a python3 earlier on PATH (pyenv) does not see Debian's modules. */
const PYTHON = '/usr/bin/python3';

const OPENMETRICS_CHECK = `
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
print(len(families), sum(len(f.samples) for f in families))
print(" ".join(f.name + ":" + f.type for f in families))
`;

interface Recorded {
  request: string;
  response: string;
}

/** A TCP relay to `target` that records the first request head and the first response head. */
async function startRelay(target: string): Promise<{ address: string; recorded: Recorded[]; stop: () => Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const recorded: Recorded[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    const entry: Recorded = { request: '', response: '' };
    recorded.push(entry);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    const head = (key: keyof Recorded) => (d: Buffer) => {
      if (!entry[key].includes('\r\n\r\n')) entry[key] += d.toString('latin1').slice(0, 4096);
    };
    client.on('data', head('request'));
    upstream.on('data', head('response'));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    recorded,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const header = (head: string, name: string) => new RegExp(`^${name}: *(.*?)\\r?$`, 'im').exec(head)?.[1];

describeWithTools(['promtool', 'prometheus', PYTHON], '/metrics read by promtool, an OpenMetrics parser and a real Prometheus', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-expo-int-'));
  let exporter: Running;
  let target: string;

  beforeAll(async () => {
    const certs = path.join(root, 'certs');
    for (const [name, days] of [
      ['a.example', 60],
      ['b.example', 4],
    ] as const) {
      fs.mkdirSync(path.join(certs, name), { recursive: true });
      const cert = await mint({ names: [name], notAfter: days * DAY });
      fs.writeFileSync(path.join(certs, name, 'fullchain.pem'), cert.pem);
      fs.writeFileSync(path.join(certs, name, 'privkey.pem'), cert.keyPem);
    }
    // A worker state file, so the renewal counters (a labelled counter family) are exposed too.
    fs.mkdirSync(path.join(root, 'state'));
    fs.writeFileSync(
      path.join(root, 'state', 'state.json'),
      JSON.stringify({
        version: 1,
        heartbeat: Date.now() / 1000,
        groups: { 'a.example': { domains: ['a.example'], fallback: false, successes: 2, failures: { rate_limited: 1 }, consecutiveFailures: 0 } },
      }),
    );
    const config = path.join(root, 'xmpp-cert.yml');
    fs.writeFileSync(
      config,
      'prosody:\n  config: null\n  certs: certs\ndomains: [a.example, b.example]\nprobes:\n  enabled: false\nrenewal:\n  stateDir: state\n',
    );
    exporter = await startCli(['serve', '--config', config, '--web.listen-address', '127.0.0.1:0']);
    target = new URL(exporter.url).host;
    await waitFor(async () => (await fetch(`${exporter.url}/readyz`)).status === 200, 15_000, '/readyz');
  });

  afterAll(async () => {
    await exporter?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** fetch would gunzip by itself; node's http gives the bytes as sent. */
  const get = (headers: Record<string, string>) =>
    new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      http
        .get(`${exporter.url}/metrics`, { headers }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve({ headers: r.headers, body: Buffer.concat(chunks) }));
        })
        .on('error', reject);
    });

  const promtool = (text: string) => spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });

  test('promtool check metrics passes on the text format, plain and gzip', async () => {
    const plain = await get({});
    expect(plain.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const zipped = await get({ 'Accept-Encoding': 'gzip' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    for (const text of [plain.body.toString(), zlib.gunzipSync(zipped.body).toString()]) {
      expect(text).toContain('xmpp_cert_renewal_attempts_total{domain="a.example",result="success",reason="none"} 2');
      const lint = promtool(text);
      expect(`${lint.stdout}${lint.stderr}`).toBe('');
      expect(lint.status).toBe(0);
    }
  });

  test('promtool check metrics fails on what it should fail on (the check is not a no-op)', () => {
    const lint = promtool('# HELP bad_gauge_total A gauge.\n# TYPE bad_gauge_total gauge\nbad_gauge_total 1\n');
    expect(lint.status).not.toBe(0);
    expect(`${lint.stdout}${lint.stderr}`).toContain('non-counter metrics should not have "_total" suffix');
  });

  test('OpenMetrics, plain and gzip, parses with the strict OpenMetrics parser; counters are typed as counters', async () => {
    const accept = 'application/openmetrics-text;version=1.0.0';
    const plain = await get({ Accept: accept });
    const zipped = await get({ Accept: accept, 'Accept-Encoding': 'gzip' });
    expect(plain.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(zipped.headers['content-encoding']).toBe('gzip');
    for (const text of [plain.body.toString(), zlib.gunzipSync(zipped.body).toString()]) {
      const parsed = spawnSync(PYTHON, ['-c', OPENMETRICS_CHECK], { input: text, encoding: 'utf8' });
      expect(parsed.stderr).toBe('');
      expect(parsed.status).toBe(0);
      const types = Object.fromEntries(
        parsed.stdout
          .split('\n')[1]!
          .split(' ')
          .map((t) => t.split(':')),
      );
      expect(types).toMatchObject({
        xmpp_cert_renewal_attempts: 'counter',
        xmpp_cert_files_parsed: 'counter',
        xmpp_cert_not_after_timestamp_seconds: 'gauge',
        xmpp_cert_scrape_duration_seconds: 'summary',
        nodejs_gc_duration_seconds: 'histogram',
      });
    }
    // The same parser refuses the text format (no # EOF): it does check.
    const text = (await get({})).body.toString();
    expect(spawnSync(PYTHON, ['-c', OPENMETRICS_CHECK], { input: text, encoding: 'utf8' }).status).not.toBe(0);
  });

  describe('a real Prometheus with its default scrape headers', () => {
    let prometheus: RunningPrometheus;
    let relay: Awaited<ReturnType<typeof startRelay>>;

    beforeAll(async () => {
      relay = await startRelay(target);
      prometheus = await startPrometheus({ scrapeTargets: [relay.address], jobName: 'xmpp-cert' });
    });

    afterAll(async () => {
      await prometheus?.stop();
      await relay?.stop();
    });

    test('asks for OpenMetrics and gzip, gets both, and stores the series', async () => {
      const samples = await waitFor(
        async () => {
          const up = await prometheus.query('up{job="xmpp-cert"}');
          return up[0]?.value[1] === '1' ? prometheus.query('xmpp_cert_not_after_timestamp_seconds') : undefined;
        },
        20_000,
        'a successful scrape',
      );
      expect(samples.map((s) => s.metric.domain).sort()).toEqual(['a.example', 'b.example']);
      const counter = await prometheus.query('xmpp_cert_renewal_attempts_total{result="success"}');
      expect(counter[0]?.value[1]).toBe('2');
      const scrape = relay.recorded.find((r) => r.request.startsWith('GET /metrics'))!;
      expect(header(scrape.request, 'Accept-Encoding')).toBe('gzip');
      expect(header(scrape.request, 'Accept')).toMatch(/^application\/openmetrics-text;version=1\.0\.0,/);
      expect(scrape.response).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(header(scrape.response, 'Content-Encoding')).toBe('gzip');
      expect(header(scrape.response, 'Content-Type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    });
  });
});
