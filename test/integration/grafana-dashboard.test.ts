/**
 * The Grafana dashboard's queries against a real Prometheus that scrapes a real exporter (no
 * Grafana exists here: the queries are what can break, and Prometheus is what runs them).
 * The fixture is built at test time and covers every state: certificates on disk that are ok,
 * warning, critical and expired, an unreadable file, a live direct-TLS endpoint serving another
 * certificate than the one on disk, one serving the same, an endpoint that refuses connections,
 * a renewal that succeeded (self-signed issuer) and one that keeps failing (an ACME directory on a
 * closed port), run with the real `xmpp-cert auto-renew`, which also writes the worker heartbeat.
 * Every `expr` of the dashboard (panels, rows, variables) must return at least one series, and
 * every metric it names must be in docs/metrics.md and in the exporter's real /metrics.
 * It does not check how Grafana renders the panels (test/unit/dashboard.test.ts checks structure).
 */
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { DAY, makeCA, mint, type Minted, type TestCA } from '../helpers/certs';
import { metricFamilies } from '../helpers/metrics-text';
import { CLI, startCli, waitFor, type Running } from '../helpers/process';
import { freePort } from '../helpers/prosody-server';
import { startPrometheus } from '../helpers/prometheus-server';
import { describeWithTools } from '../helpers/tools';
import { startDnsServer } from '../helpers/dns-server';

const ROOT = path.resolve(__dirname, '../..');
const DASHBOARD = JSON.parse(fs.readFileSync(path.join(ROOT, 'grafana/dashboards/xmpp-certificates.json'), 'utf8')) as Dashboard;

interface Target {
  expr?: string;
  refId?: string;
}
interface Panel {
  id: number;
  title?: string;
  type: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  query?: string | { query?: string };
}
interface Dashboard {
  panels: Panel[];
  templating: { list: Variable[] };
}

/** Every query of the dashboard, named by where it is. Rows nest their panels when collapsed. */
function dashboardQueries(dashboard: Dashboard): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating.list) {
    const query = typeof v.query === 'string' ? v.query : v.query?.query;
    if (query) out.push({ where: `variable ${v.name}`, expr: query });
  }
  return out;
}

/**
 * What Grafana sends for the defaults: every variable at "All" (allValue ".*"), a 1m rate
 * interval (4 x the 15s Grafana assumes, and plenty of 1s scrapes), the 7-day range.
 */
function substitute(expr: string): string {
  const out = expr
    .replace(/\$\{(instance|domain)(:\w+)?\}|\$(instance|domain)\b|\[\[(instance|domain)\]\]/g, '.*')
    .replace(/\$__rate_interval\b|\$\{__rate_interval\}/g, '1m')
    .replace(/\$__interval\b|\$\{__interval\}/g, '15s')
    .replace(/\$__range_s\b/g, String(7 * 86400))
    .replace(/\$__range\b|\$\{__range\}/g, '7d');
  if (out.includes('$')) throw new Error(`a Grafana variable this test does not know: ${expr}`);
  return out;
}

/** `label_values(selector, label)` is Grafana's, not PromQL: query the selector, read the label. */
function asPromQL(expr: string): { promql: string; label?: string } {
  const lv = /^\s*label_values\(\s*(.+),\s*(\w+)\s*\)\s*$/s.exec(expr);
  return lv ? { promql: lv[1]!, label: lv[2]! } : { promql: expr };
}

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

async function instantQuery(promUrl: string, promql: string): Promise<Series[]> {
  const res = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: promql }).toString()}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Series[] } };
  if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
  if (body.data!.resultType !== 'vector') throw new Error(`${promql}: a ${body.data!.resultType}, not a vector`);
  return body.data!.result;
}

/** The built CLI without blocking this process (its TLS servers must keep answering probes). */
function runCliAsync(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

/** A direct-TLS endpoint (XEP-0368 style) serving `cert`; the probe only needs the handshake. */
async function startTlsEndpoint(cert: Minted, ca: TestCA): Promise<{ port: number; close: () => Promise<void> }> {
  const server = tls.createServer({ key: cert.keyPem, cert: cert.pem + ca.pem }, (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describeWithTools(['prometheus'], 'Grafana dashboard queries against a real Prometheus and exporter', () => {
  jest.setTimeout(60_000);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-grafana-'));
  const certs = path.join(root, 'certs');
  const stopAll: Array<() => Promise<unknown>> = [];
  let exporter: Running;
  let prometheusUrl: string;

  const writePair = (domain: string, pem: string, keyPem: string) => {
    fs.mkdirSync(path.join(certs, domain), { recursive: true });
    fs.writeFileSync(path.join(certs, domain, 'fullchain.pem'), pem);
    fs.writeFileSync(path.join(certs, domain, 'privkey.pem'), keyPem, { mode: 0o600 });
  };

  beforeAll(async () => {
    const started = Date.now();
    const ca = await makeCA('Dashboard Test CA');
    fs.writeFileSync(path.join(root, 'ca.pem'), ca.pem);
    const leaf = (domain: string, days: number) => mint({ names: [domain], notBefore: Math.min(-30, days - 90) * DAY, notAfter: days * DAY, issuer: ca });
    const ok = await leaf('ok.test', 60);
    for (const [domain, days] of [
      ['warn.test', 10],
      ['crit.test', 2],
      ['expired.test', -3],
      ['served.test', 60],
    ] as const) {
      const cert = await leaf(domain, days);
      writePair(domain, cert.pem + ca.pem, cert.keyPem);
    }
    writePair('ok.test', ok.pem + ca.pem, ok.keyPem);
    // Valid only from tomorrow: critical, as the exporter counts it.
    const early = await mint({ names: ['early.test'], notBefore: DAY, notAfter: 90 * DAY, issuer: ca });
    writePair('early.test', early.pem + ca.pem, early.keyPem);
    // A leftover Prosody uses for no domain (ok.test has its own file): the "Unused" table.
    const leftover = await mint({ names: ['ok.test'], notBefore: -100 * DAY, notAfter: -DAY, issuer: ca });
    fs.writeFileSync(path.join(certs, 'leftover.pem'), leftover.pem);
    writePair('broken.test', '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n', ok.keyPem);

    // Live endpoints: ok.test serves its file; served.test serves a newer certificate than its file
    // (as after a renewal Prosody has not been reloaded for); renewed.test's port refuses.
    const same = await startTlsEndpoint(ok, ca);
    const other = await startTlsEndpoint(await leaf('served.test', 80), ca);
    stopAll.push(same.close, other.close);
    const refused = await freePort();
    const endpoint = (domain: string, port: number, host = '127.0.0.1') => ({ domain, host, port, service: 'c2s', tls: 'direct' });
    // ok.test's endpoint by name, through a DNS server of the test's own: its address and a TLSA
    // record (DANE-EE 3 0 1, the served leaf's SHA-256) for the DANE panel.
    const dns = await startDnsServer({
      'tls.ok.test': { A: ['127.0.0.1'] },
      [`_${same.port}._tcp.tls.ok.test`]: {
        TLSA: [{ usage: 3, selector: 0, matchingType: 1, data: crypto.createHash('sha256').update(ok.der).digest('hex') }],
        authenticated: true,
      },
    });
    stopAll.push(() => dns.close());

    const base = {
      prosody: { config: null, certs },
      domains: ['ok.test', 'warn.test', 'crit.test', 'expired.test', 'served.test', 'broken.test', 'renewed.test', 'early.test'],
      thresholds: { warning: 14, critical: 5, renewal: 30 },
      scan: { interval: '1s' },
      probes: {
        srv: false,
        interval: '10s',
        timeout: '2s',
        ca: [path.join(root, 'ca.pem')],
        dns: { servers: [dns.address] },
        endpoints: [endpoint('ok.test', same.port, 'tls.ok.test'), endpoint('served.test', other.port), endpoint('renewed.test', refused)],
      },
    };
    const renewal = {
      stateDir: path.join(root, 'state'),
      jitter: 0,
      retry: { count: 1, delay: 0 },
      backoff: { initial: '1s', max: '2s' },
      verify: { timeout: '1s' },
    };
    const config = (name: string, extra: Record<string, unknown>) => {
      const file = path.join(root, name);
      fs.writeFileSync(file, JSON.stringify({ ...base, renewal: { ...renewal, ...extra } }));
      return file;
    };
    // renewed.test has no certificate: the self-signed issuer gives it one (a success, verify
    // "unreachable" as its endpoint refuses). crit.test is due and its only CA is not listening.
    const succeeding = config('succeeding.yml', { issuers: [{ type: 'selfsigned' }], certificates: [{ name: 'renewed.test', domains: ['renewed.test'] }] });
    const closedAcme = `https://127.0.0.1:${await freePort()}/dir`;
    const failing = config('failing.yml', {
      issuers: [{ type: 'acme', directory: closedAcme, challenge: { type: 'http-01', listen: `127.0.0.1:${await freePort()}` } }],
      certificates: [{ name: 'crit.test', domains: ['crit.test'] }],
    });
    const success = await runCliAsync(['auto-renew', '--config', succeeding]);
    expect(success).toMatchObject({ code: 0 });
    const failure = await runCliAsync(['auto-renew', '--config', failing]);
    expect(failure.code).toBe(1);
    expect(failure.out).toContain('connection');

    exporter = await startCli(['serve', '--config', failing, '--listen', '127.0.0.1:0']);
    stopAll.push(exporter.stop);
    const target = new URL(exporter.url).host;
    const prometheus = await startPrometheus({ scrapeTargets: [target], jobName: 'xmpp-cert', scrapeInterval: '1s', evaluationInterval: '1s' });
    stopAll.push(prometheus.stop);
    prometheusUrl = prometheus.url;

    // Probes have run and Prometheus holds a few scrapes; then one more failed run, so the
    // failure counter moves while Prometheus watches (what increase() panels need).
    await waitFor(
      async () => (await instantQuery(prometheusUrl, 'count_over_time(xmpp_cert_served_matches_disk[1m]) >= 2')).length === 2,
      20_000,
      'two scrapes with probe results',
    );
    const again = await runCliAsync(['auto-renew', '--config', failing]);
    expect(again.code).toBe(1);
    await waitFor(
      async () =>
        (await instantQuery(prometheusUrl, 'increase(xmpp_cert_renewal_attempts_total{domain="crit.test",reason="connection"}[1m]) > 0')).length === 1,
      15_000,
      'Prometheus to see the second failure',
    );

    console.log(`fixture, exporter and Prometheus ready in ${Date.now() - started} ms`);
  });

  afterAll(async () => {
    for (const stop of stopAll.reverse()) await stop().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('every query of the dashboard returns at least one series', async () => {
    const queries = dashboardQueries(DASHBOARD);
    expect(queries.length).toBeGreaterThan(30);
    const empty: string[] = [];
    for (const { where, expr } of queries) {
      const { promql, label } = asPromQL(substitute(expr));
      const result = await instantQuery(prometheusUrl, promql);
      const found = label ? result.filter((s) => s.metric[label] !== undefined) : result;
      if (found.length === 0) empty.push(`${where}: ${expr}`);
    }
    expect(empty).toEqual([]);
  });

  test('the status column follows the exported thresholds and the exporter: ok 0, warning 1, critical 2 (also not yet valid), expired 3', async () => {
    const table = DASHBOARD.panels.find((p) => p.title === 'Time left per domain and source')!;
    const status = table.targets!.find((t) => t.refId === 'B')!.expr!;
    const result = await instantQuery(prometheusUrl, substitute(status));
    const files = result.filter((s) => s.metric.source === 'file');
    const byDomain = Object.fromEntries(files.map((s) => [s.metric.domain, Number(s.value[1])]));
    const expected = { 'ok.test': 0, 'warn.test': 1, 'crit.test': 2, 'expired.test': 3, 'served.test': 0, 'early.test': 2, 'renewed.test': 0 };
    expect(byDomain).toEqual(expected);
    // The leftover with ok.test's name is not in this table (it would show as expired).
    expect(files.filter((s) => s.metric.target!.endsWith('leftover.pem'))).toEqual([]);
    // The exporter's own verdict for the same domains.
    const exporter = await instantQuery(prometheusUrl, 'xmpp_cert_domain_status == 1');
    const words = ['ok', 'warning', 'critical', 'expired'];
    const exporterByDomain = Object.fromEntries(
      exporter.filter((s) => s.metric.domain! in expected).map((s) => [s.metric.domain, words.indexOf(s.metric.status!)]),
    );
    expect(exporterByDomain).toEqual(expected);
  });

  test('the chain table has every position, with subject and issuer; the unused table has the leftover', async () => {
    const queryOf = (title: string) => substitute(DASHBOARD.panels.find((p) => p.title === title)!.targets![0]!.expr!);
    const chain = await instantQuery(prometheusUrl, queryOf('Chain: every certificate, every position'));
    const ok = chain
      .filter((s) => s.metric.domain === 'ok.test' && s.metric.source === 'file')
      .map((s) => [s.metric.position, s.metric.subject, s.metric.issuer]);
    expect(ok.sort()).toEqual([
      ['0', 'CN=ok.test', 'CN=Dashboard Test CA'],
      ['1', 'CN=Dashboard Test CA', 'CN=Dashboard Test CA'],
    ]);
    const unused = await instantQuery(prometheusUrl, queryOf('Unused certificate files'));
    expect(unused.map((s) => [path.basename(s.metric.target!), s.metric.domain, s.metric.severity])).toEqual([['leftover.pem', 'ok.test', 'warning']]);
  });

  test("auto-renew's heartbeat says a daily timer wrote it (the heartbeat alert's thresholds scale with it)", async () => {
    const result = await instantQuery(prometheusUrl, 'xmpp_cert_worker_heartbeat_interval_seconds');
    expect(result.map((s) => [s.metric.mode, s.value[1]])).toEqual([['timer', '86400']]);
  });

  test('served vs on disk tells the stale endpoint from the current one', async () => {
    const result = await instantQuery(prometheusUrl, 'xmpp_cert_served_matches_disk');
    expect(Object.fromEntries(result.map((s) => [s.metric.domain, s.value[1]]))).toEqual({ 'ok.test': '1', 'served.test': '0' });
  });

  test('every metric the dashboard names is documented in docs/metrics.md and exported for real', async () => {
    const documented = new Set([...fs.readFileSync(path.join(ROOT, 'docs/metrics.md'), 'utf8').matchAll(/^\| `(xmpp_cert_[a-z_]+)` \|/gm)].map((m) => m[1]!));
    const exported = metricFamilies(await (await fetch(`${exporter.url}/metrics`)).text());
    const text = dashboardQueries(DASHBOARD)
      .map((q) => q.expr)
      .join('\n');
    const used = new Set([...text.matchAll(/\b(xmpp_cert_[a-z_]+)/g)].map((m) => m[1]!));
    // A summary's samples are NAME_sum and NAME_count; the documented family is NAME.
    const family = (name: string) => (documented.has(name) || exported.has(name) ? name : name.replace(/_(sum|count|bucket)$/, ''));
    expect(used.size).toBeGreaterThan(25);
    expect([...used].filter((name) => !documented.has(family(name)))).toEqual([]);
    expect([...used].filter((name) => !exported.has(family(name)))).toEqual([]);
    // Any other selector is Prometheus's own `up`.
    const others = new Set([...text.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) => m[1]!).filter((n) => !n.startsWith('xmpp_cert_')));
    expect([...others]).toEqual(['up']);
  });
});
