/**
 * The live prober against Debian's real Prosody, found through the test's own DNS server
 * (probes.dns.servers) as a peer would find it: SRV targets, their A and AAAA addresses (Prosody
 * listens on 127.0.0.1 only while AAAA points at ::1, so the IPv6 address fails on its own), TLSA
 * records at `_PORT._tcp.TARGET` made by openssl (DANE-EE 3 1 1 on the leaf for c2s, DANE-TA
 * 2 0 1 on the CA for s2s), then a renewal with a new key (3 1 1 stops matching, 2 0 1 does not),
 * and an SRV lookup that answers SERVFAIL (the last targets stay probed) and recovers. Asserted
 * on the metrics text and /status JSON the exporter would serve.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { configSchema } from '../../src/config';
import { evaluate, statusJson, type Report } from '../../src/evaluate';
import { renderReport } from '../../src/metrics/report-gauges';
import { createLogger } from '../../src/shared/log';
import { InventoryScanner } from '../../src/sources/inventory';
import { LiveProber } from '../../src/sources/live';
import { DAY, makeCA, mint, type Minted, type TestCA } from '../helpers/certs';
import { startDnsServer, type DnsServer, type DnsTable } from '../helpers/dns-server';
import { find, parseMetrics, type Sample } from '../helpers/metrics-text';
import { opensslTlsaData } from '../helpers/openssl';
import { waitFor } from '../helpers/process';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const DOMAIN = 'dane.test';
const TARGET = 'xmpp.dane.test';

describeWithTools(['prosody', 'openssl'], 'DANE, every address and SRV failures against a real Prosody', () => {
  let ca: TestCA;
  let prosody: RunningProsody;
  let dns: DnsServer;
  let leaf: Minted;
  let table: DnsTable;

  async function writePair(certs: string): Promise<Minted> {
    const cert = await mint({ names: [DOMAIN], notAfter: 40 * DAY, issuer: ca, freshKey: true });
    fs.mkdirSync(path.join(certs, DOMAIN), { recursive: true });
    fs.writeFileSync(path.join(certs, DOMAIN, 'fullchain.pem'), cert.pem + ca.pem);
    fs.writeFileSync(path.join(certs, DOMAIN, 'privkey.pem'), cert.keyPem, { mode: 0o600 });
    return cert;
  }

  beforeAll(async () => {
    ca = await makeCA('DANE Test CA');
    prosody = await startProsody({ hosts: [DOMAIN], writeCerts: async (certs) => void (leaf = await writePair(certs)) });
    table = {
      [`_xmpp-client._tcp.${DOMAIN}`]: { SRV: [{ priority: 0, weight: 0, port: prosody.ports.c2s, target: `${TARGET}.` }] },
      [`_xmpp-server._tcp.${DOMAIN}`]: { SRV: [{ priority: 0, weight: 0, port: prosody.ports.s2s, target: `${TARGET}.` }] },
      [TARGET]: { A: ['127.0.0.1'], AAAA: ['::1'] },
      [`_${prosody.ports.c2s}._tcp.${TARGET}`]: {
        TLSA: [{ usage: 3, selector: 1, matchingType: 1, data: opensslTlsaData(leaf.pem, 1, 1) }],
        authenticated: true,
      },
      [`_${prosody.ports.s2s}._tcp.${TARGET}`]: { TLSA: [{ usage: 2, selector: 0, matchingType: 1, data: opensslTlsaData(ca.pem, 0, 1) }] },
    };
    dns = await startDnsServer(table);
  }, 30_000);

  afterAll(async () => {
    await prosody?.stop();
    await dns?.close();
  });

  const config = (ipVersions: Array<4 | 6> = [4, 6]) =>
    configSchema.parse({
      prosody: { config: null, certs: prosody.certs },
      domains: [DOMAIN],
      probes: { modules: ['c2s', 's2s'], dns: { servers: [dns.address] }, ca: [], timeout: 3, ipVersions },
    });

  /** One prober kept across rounds (it remembers SRV answers), as the exporter keeps one. */
  async function round(prober: LiveProber, cfg = config()): Promise<{ report: Report; samples: Sample[] }> {
    const inventory = await new InventoryScanner(cfg).scan();
    await prober.runOnce([DOMAIN]);
    const report = evaluate(inventory, cfg.thresholds, Date.now() / 1000, prober.snapshot(), prober.srvSnapshot());
    return { report, samples: parseMetrics(Buffer.concat(renderReport(report)).toString()) };
  }
  const value = (samples: Sample[], name: string, labels: Record<string, string>) => find(samples, name, labels).map((s) => s.value);
  const c2s = () => ({ domain: DOMAIN, source: 'c2s_starttls', target: `${TARGET}:${prosody.ports.c2s}` });
  const s2s = () => ({ domain: DOMAIN, source: 's2s_starttls', target: `${TARGET}:${prosody.ports.s2s}` });

  test('every address of the SRV target is probed: 127.0.0.1 serves, ::1 (nothing listens) fails on its own; DANE matches', async () => {
    const prober = new LiveProber(config().probes, createLogger('silent'), () => undefined);
    const { report, samples } = await round(prober);
    expect(value(samples, 'xmpp_cert_probe_success', { ...c2s(), address: '127.0.0.1' })).toEqual([1]);
    expect(value(samples, 'xmpp_cert_probe_success', { ...c2s(), address: '::1' })).toEqual([0]);
    expect(value(samples, 'xmpp_cert_probe_failure', { ...c2s(), address: '::1', reason: 'connect' })).toEqual([1]);
    expect(value(samples, 'xmpp_cert_probe_success', { ...s2s(), address: '127.0.0.1' })).toEqual([1]);
    expect(value(samples, 'xmpp_cert_probe_success', { ...s2s(), address: '::1' })).toEqual([0]);
    // The served leaf's series carry the address too, so the two families never collide.
    expect(find(samples, 'xmpp_cert_not_after_timestamp_seconds', { ...c2s(), position: '0' }).map((s) => s.labels.address)).toEqual(['127.0.0.1']);

    expect(value(samples, 'xmpp_cert_dane_match', { ...c2s(), address: '127.0.0.1' })).toEqual([1]);
    expect(value(samples, 'xmpp_cert_dane_match', { ...s2s(), address: '127.0.0.1' })).toEqual([1]);
    expect(find(samples, 'xmpp_cert_dane_match', { ...c2s(), address: '::1' })).toEqual([]); // nothing served there: no verdict
    expect(value(samples, 'xmpp_cert_dane_authenticated', { ...c2s(), address: '127.0.0.1' })).toEqual([1]);
    expect(value(samples, 'xmpp_cert_dane_authenticated', { ...s2s(), address: '127.0.0.1' })).toEqual([0]);
    expect(value(samples, 'xmpp_cert_srv_lookup_success', { domain: DOMAIN, service: 'xmpp-client' })).toEqual([1]);

    const status = statusJson(report).served.find((s) => s.source === 'c2s_starttls' && s.address === '127.0.0.1');
    expect(status?.dane).toEqual({
      name: `_${prosody.ports.c2s}._tcp.${TARGET}`,
      lookup_ok: true,
      authenticated: true,
      match: true,
      records: [{ usage: 3, selector: 1, matching_type: 1, data: opensslTlsaData(leaf.pem, 1, 1), usable: true, matches: true }],
    });
    // Addresses, TLSA and SRV all came from probes.dns.servers.
    expect(dns.queries).toEqual(expect.arrayContaining([`${TARGET} A`, `${TARGET} AAAA`, `_${prosody.ports.c2s}._tcp.${TARGET} TLSA`]));
  }, 30_000);

  test('probes.ipVersions [4]: only the IPv4 address', async () => {
    const cfg = config([4]);
    const prober = new LiveProber(cfg.probes, createLogger('silent'), () => undefined);
    const { samples } = await round(prober, cfg);
    expect(find(samples, 'xmpp_cert_probe_success', c2s()).map((s) => s.labels.address)).toEqual(['127.0.0.1']);
  }, 30_000);

  test('a renewal with a new key: DANE-EE 3 1 1 no longer matches (the classic outage), DANE-TA on the CA still does', async () => {
    const prober = new LiveProber(config([4]).probes, createLogger('silent'), () => undefined);
    const renewed = await writePair(prosody.certs);
    prosody.reload();
    let samples: Sample[] = [];
    await waitFor(
      async () => {
        ({ samples } = await round(prober, config([4])));
        return find(samples, 'xmpp_cert_info', { ...c2s(), position: '0' })[0]?.labels.fingerprint === sha256(renewed.der);
      },
      10_000,
      'Prosody to serve the renewed certificate',
    );
    expect(value(samples, 'xmpp_cert_dane_match', { ...c2s(), address: '127.0.0.1' })).toEqual([0]);
    expect(value(samples, 'xmpp_cert_dane_match', { ...s2s(), address: '127.0.0.1' })).toEqual([1]);
    // Publishing the new key's record fixes it.
    table[`_${prosody.ports.c2s}._tcp.${TARGET}`] = { TLSA: [{ usage: 3, selector: 1, matchingType: 1, data: opensslTlsaData(renewed.pem, 1, 1) }] };
    dns.set(table);
    ({ samples } = await round(prober, config([4])));
    expect(value(samples, 'xmpp_cert_dane_match', { ...c2s(), address: '127.0.0.1' })).toEqual([1]);
  }, 30_000);

  test('SRV SERVFAIL: the last targets stay probed (not the fallback host), the failure is its own series; then recovery', async () => {
    const prober = new LiveProber(config([4]).probes, createLogger('silent'), () => undefined);
    const first = await round(prober, config([4]));
    const answeredAt = value(first.samples, 'xmpp_cert_srv_answer_timestamp_seconds', { domain: DOMAIN, service: 'xmpp-client' })[0]!;
    expect(answeredAt).toBeGreaterThan(0);

    dns.set({ ...table, [`_xmpp-client._tcp.${DOMAIN}`]: 'SERVFAIL' });
    const failing = await round(prober, config([4]));
    expect(value(failing.samples, 'xmpp_cert_srv_lookup_success', { domain: DOMAIN, service: 'xmpp-client' })).toEqual([0]);
    expect(value(failing.samples, 'xmpp_cert_srv_lookup_failure', { domain: DOMAIN, service: 'xmpp-client', reason: 'servfail' })).toEqual([1]);
    expect(value(failing.samples, 'xmpp_cert_srv_lookup_success', { domain: DOMAIN, service: 'xmpp-server' })).toEqual([1]);
    expect(value(failing.samples, 'xmpp_cert_srv_answer_timestamp_seconds', { domain: DOMAIN, service: 'xmpp-client' })).toEqual([answeredAt]);
    // The SRV target is still probed and still serves; the RFC 6120 fallback (dane.test:5222) is not probed.
    expect(value(failing.samples, 'xmpp_cert_probe_success', { ...c2s(), address: '127.0.0.1' })).toEqual([1]);
    expect(find(failing.samples, 'xmpp_cert_probe_success', { domain: DOMAIN, source: 'c2s_starttls' }).map((s) => s.labels.target)).toEqual([
      `${TARGET}:${prosody.ports.c2s}`,
    ]);
    expect(statusJson(failing.report).srv.find((l) => l.service === 'xmpp-client')).toMatchObject({ answer: 'failed', reason: 'servfail', kept_targets: true });

    dns.set(table);
    const recovered = await round(prober, config([4]));
    expect(value(recovered.samples, 'xmpp_cert_srv_lookup_success', { domain: DOMAIN, service: 'xmpp-client' })).toEqual([1]);
    expect(value(recovered.samples, 'xmpp_cert_srv_lookup_failure', { domain: DOMAIN, service: 'xmpp-client', reason: 'servfail' })).toEqual([0]);
    expect(value(recovered.samples, 'xmpp_cert_srv_answer_timestamp_seconds', { domain: DOMAIN, service: 'xmpp-client' })[0]).toBeGreaterThan(answeredAt);
  }, 30_000);
});

const sha256 = (der: Buffer) => crypto.createHash('sha256').update(der).digest('hex');
