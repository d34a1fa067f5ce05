/**
 * What the XMPP stream offers after TLS, against Debian's real Prosody 0.12 with
 * `authentication = "internal_hashed"`, compared with what the same server tells openssl s_client
 * (`-starttls xmpp`, the stream restarted over TLS by hand) and a plain TCP read before TLS:
 * - defaults (c2s_require_encryption = true): no mechanisms before TLS; SCRAM-SHA-1 and PLAIN
 *   after, and no -PLUS over TLS 1.3 (Prosody 0.12 binds channels with tls-unique only, which
 *   TLS 1.3 does not define: mod_saslauth);
 * - c2s_require_encryption = false with allow_unencrypted_plain_auth = true: PLAIN before TLS, the
 *   finding the metric exists for;
 * - TLS 1.2 only: SCRAM-SHA-1-PLUS offered (tls-unique);
 * - s2s: dialback offered (mod_dialback), SASL EXTERNAL not (we present no certificate), and
 *   `probes.s2sFrom` in the stream header Prosody logs.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { configSchema } from '../../src/config';
import { evaluate } from '../../src/evaluate';
import { renderReport } from '../../src/metrics/report-gauges';
import type { ProbeModule, StreamFeatures } from '../../src/model/probe';
import { createLogger } from '../../src/shared/log';
import { InventoryScanner } from '../../src/sources/inventory';
import { LiveProber } from '../../src/sources/live';
import { probeEndpoint } from '../../src/sources/probe';
import { DAY, makeCA, mint, type TestCA } from '../helpers/certs';
import { find, parseMetrics } from '../helpers/metrics-text';
import { waitFor } from '../helpers/process';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const DOMAIN = 'features.test';
const HEADER = (ns: string, from = '') =>
  `<?xml version='1.0'?><stream:stream to='${DOMAIN}'${from} version='1.0' xmlns='${ns}' xmlns:stream='http://etherx.jabber.org/streams'>`;
/** The mechanism names in some stream features, sorted: Prosody offers them in hash-table order, which varies. */
const mechanisms = (text: string) => [...text.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]!).sort();
const sorted = (f: StreamFeatures | undefined) =>
  f && {
    mechanismsBeforeTls: [...f.mechanismsBeforeTls].sort(),
    afterTls: f.afterTls.ok ? { ...f.afterTls, mechanisms: [...f.afterTls.mechanisms].sort() } : f.afterTls,
  };

/** The features after TLS as openssl s_client reads them: STARTTLS, then our header typed over TLS; read until they end. */
function opensslFeatures(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_client', '-starttls', 'xmpp', '-xmpphost', DOMAIN, '-connect', `127.0.0.1:${port}`, '-quiet'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let text = '';
    const timer = setTimeout(() => child.kill(), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('</stream:features>')) child.kill();
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(text);
    });
    child.on('error', reject);
    child.stdin.write(HEADER('jabber:client'));
  });
}

/** The features before TLS, read over plain TCP. */
function plainFeatures(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(HEADER('jabber:client')));
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('</stream:features>')) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
  });
}

describeWithTools(['prosody', 'openssl'], 'stream features after TLS against a real Prosody', () => {
  let ca: TestCA;
  const servers: Record<'defaults' | 'plain' | 'tls12', RunningProsody> = {} as never;

  const start = (extraConfig: string[], logLevel: 'info' | 'debug' = 'info') =>
    startProsody({
      hosts: [DOMAIN],
      global: extraConfig,
      logLevel,
      writeCerts: async (certs) => {
        const cert = await mint({ names: [DOMAIN], notAfter: 40 * DAY, issuer: ca });
        fs.mkdirSync(path.join(certs, DOMAIN));
        fs.writeFileSync(path.join(certs, DOMAIN, 'fullchain.pem'), cert.pem + ca.pem);
        fs.writeFileSync(path.join(certs, DOMAIN, 'privkey.pem'), cert.keyPem, { mode: 0o600 });
      },
    });

  beforeAll(async () => {
    ca = await makeCA('Features Test CA');
    [servers.defaults, servers.plain, servers.tls12] = await Promise.all([
      start([], 'debug'),
      start(['c2s_require_encryption = false', 'allow_unencrypted_plain_auth = true']),
      start(['ssl = { protocol = "tlsv1_2" }']),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(Object.values(servers).map((s) => s?.stop()));
  });

  async function features(server: RunningProsody, module: ProbeModule, port: number, s2sFrom?: string): Promise<StreamFeatures | undefined> {
    const result = await probeEndpoint(
      { domain: DOMAIN, host: '127.0.0.1', port, module, address: '127.0.0.1' },
      { timeoutMs: 5000, ca: [ca.pem], ...(s2sFrom ? { s2sFrom } : {}) },
    );
    if (!result.ok) throw new Error(`${result.reason}: ${result.message}\n${server.log()}`);
    return result.features;
  }

  test.each([
    ['defaults', [], ['SCRAM-SHA-1', 'PLAIN']],
    ['plain', ['SCRAM-SHA-1', 'PLAIN'], ['SCRAM-SHA-1', 'PLAIN']],
    ['tls12', [], ['SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1', 'PLAIN']],
  ] as const)('c2s, %s: the mechanisms before and after TLS are what Prosody tells openssl and a plain read', async (name, before, after) => {
    const server = servers[name];
    const found = sorted(await features(server, 'c2s', server.ports.c2s));
    expect(found).toEqual({ mechanismsBeforeTls: [...before].sort(), afterTls: { ok: true, mechanisms: [...after].sort(), dialback: false } });
    expect(mechanisms(await opensslFeatures(server.ports.c2s))).toEqual([...after].sort());
    expect(mechanisms(await plainFeatures(server.ports.c2s))).toEqual([...before].sort());
    // Direct TLS offers the same after TLS, and nothing before it.
    expect(sorted(await features(server, 'c2s_tls', server.ports.c2sDirectTls))).toEqual({
      mechanismsBeforeTls: [],
      afterTls: { ok: true, mechanisms: [...after].sort(), dialback: false },
    });
  });

  test('s2s: dialback offered after TLS, SASL EXTERNAL not (no certificate of ours); probes.s2sFrom reaches the server', async () => {
    const server = servers.defaults;
    expect(await features(server, 's2s', server.ports.s2s, 'probe.example.net')).toEqual({
      mechanismsBeforeTls: [],
      afterTls: { ok: true, mechanisms: [], dialback: true },
    });
    // Prosody's debug log shows each stream header it received: before TLS and after the restart.
    // (Prosody writes its log file when it gets to it: wait for the lines.)
    const headers = () => server.log().match(/Incoming s2s received <stream:stream [^>]*from='probe\.example\.net'/g) ?? [];
    await waitFor(() => headers().length >= 2, 5000, "Prosody's log of the stream headers");
    expect(headers()).toHaveLength(2);
  });

  test('the metrics: one series per mechanism with tls="false"/"true", channel binding, dialback, EXTERNAL', async () => {
    const endpoints = [
      { domain: DOMAIN, host: '127.0.0.1', port: servers.plain.ports.c2s, service: 'c2s' },
      { domain: DOMAIN, host: '127.0.0.1', port: servers.tls12.ports.c2s, service: 'c2s' },
      { domain: DOMAIN, host: '127.0.0.1', port: servers.defaults.ports.s2s, service: 's2s' },
    ];
    const config = configSchema.parse({ prosody: { config: null }, domains: [DOMAIN], probes: { srv: false, ca: [], endpoints } });
    const prober = new LiveProber(config.probes, createLogger('silent'), () => undefined);
    await prober.runOnce([DOMAIN]);
    const report = evaluate(await new InventoryScanner(config).scan(), config.thresholds, Date.now() / 1000, prober.snapshot());
    const samples = parseMetrics(Buffer.concat(renderReport(report)).toString());
    const at = (port: number) => ({ domain: DOMAIN, target: `127.0.0.1:${port}`, address: '127.0.0.1' });
    const mechanismsOf = (port: number, tls: string) =>
      find(samples, 'xmpp_cert_sasl_mechanism_info', { ...at(port), tls })
        .map((s) => s.labels.mechanism)
        .sort();
    expect(mechanismsOf(servers.plain.ports.c2s, 'false')).toEqual(['PLAIN', 'SCRAM-SHA-1']);
    expect(mechanismsOf(servers.plain.ports.c2s, 'true')).toEqual(['PLAIN', 'SCRAM-SHA-1']);
    expect(mechanismsOf(servers.tls12.ports.c2s, 'false')).toEqual([]);
    expect(find(samples, 'xmpp_cert_channel_binding_offered', at(servers.plain.ports.c2s)).map((s) => s.value)).toEqual([0]);
    expect(find(samples, 'xmpp_cert_channel_binding_offered', at(servers.tls12.ports.c2s)).map((s) => s.value)).toEqual([1]);
    expect(find(samples, 'xmpp_cert_dialback_offered', at(servers.defaults.ports.s2s)).map((s) => s.value)).toEqual([1]);
    expect(find(samples, 'xmpp_cert_sasl_external_offered', at(servers.defaults.ports.s2s)).map((s) => s.value)).toEqual([0]);
    expect(find(samples, 'xmpp_cert_stream_features_success', { domain: DOMAIN }).map((s) => s.value)).toEqual([1, 1, 1]);
    // c2s endpoints have no dialback series, s2s none for channel binding.
    expect(find(samples, 'xmpp_cert_dialback_offered', at(servers.plain.ports.c2s))).toEqual([]);
    expect(find(samples, 'xmpp_cert_channel_binding_offered', at(servers.defaults.ports.s2s))).toEqual([]);
  });
});
