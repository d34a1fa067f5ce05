/**
 * The live source follows DNS SRV: a loopback DNS server of the test's own answers
 * `_xmpps-client._tcp` with two targets and `_xmpp-client._tcp` with one; each target is a TLS
 * server of the test's own. Every target is probed, in RFC 2782 order, and each result names its
 * endpoint. A round over many domains keeps its lookups bounded; probes.ca is read once per config.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { configSchema } from '../../src/config';
import { createLogger } from '../../src/shared/log';
import { LiveProber, trustStore } from '../../src/sources/live';
import { DAY, mint } from '../helpers/certs';
import { startDnsServer, type DnsServer } from '../helpers/dns-server';

const servers: net.Server[] = [];
let dns: DnsServer;

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

afterAll(async () => {
  for (const s of servers) s.close();
  await dns?.close();
});

test('every SRV target of every module is probed', async () => {
  const cert = await mint({ names: ['srv.test'], notAfter: 30 * DAY });
  const direct = () => tls.createServer({ cert: cert.pem, key: cert.keyPem }, (s) => s.end());
  const [first, second] = [await listen(direct()), await listen(direct())];
  // A STARTTLS endpoint that refuses: the c2s SRV target is followed too, and reported.
  const refusing = await listen(
    net.createServer((s) => {
      s.write("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><stream:features/>");
      s.end();
    }),
  );
  dns = await startDnsServer({
    '_xmpps-client._tcp.srv.test': {
      SRV: [
        { priority: 20, weight: 0, port: second, target: 'localhost.' },
        { priority: 10, weight: 0, port: first, target: 'localhost.' },
      ],
    },
    '_xmpp-client._tcp.srv.test': { SRV: [{ priority: 0, weight: 0, port: refusing, target: 'LOCALHOST.' }] },
    // The targets' addresses come from the same server (probes.dns.servers), not /etc/hosts.
    localhost: { A: ['127.0.0.1'] },
  });
  const config = configSchema.parse({ probes: { modules: ['c2s', 'c2s_tls'], dns: { servers: [dns.address] }, timeout: 3 } }).probes;
  const prober = new LiveProber(config, createLogger('silent'), () => undefined);
  await prober.runOnce(['srv.test']);

  const results = prober.snapshot().map(({ result }) => ({
    module: result.endpoint.module,
    target: `${result.endpoint.host}:${result.endpoint.port}`,
    ok: result.ok,
    ...(result.ok ? { leaf: result.chain[0]!.equals(cert.der) } : { reason: result.reason }),
  }));
  expect(results).toEqual([
    { module: 'c2s', target: `localhost:${refusing}`, ok: false, reason: 'no_starttls' },
    { module: 'c2s_tls', target: `localhost:${first}`, ok: true, leaf: true },
    { module: 'c2s_tls', target: `localhost:${second}`, ok: true, leaf: true },
  ]);
  expect(prober.snapshot().map(({ result }) => result.endpoint.address)).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1']);
  expect(dns.queries).toEqual(
    expect.arrayContaining([
      '_xmpp-client._tcp.srv.test SRV',
      '_xmpps-client._tcp.srv.test SRV',
      'localhost A',
      'localhost AAAA',
      `_${first}._tcp.localhost TLSA`,
      `_${second}._tcp.localhost TLSA`,
      `_${refusing}._tcp.localhost TLSA`,
    ]),
  );
  // Each host's addresses once per round, however many endpoints it has.
  expect(dns.queries.filter((q) => q === 'localhost A')).toHaveLength(1);
});

test('a round over many domains looks up a bounded number of them at once, and every one in the end', async () => {
  // 100 domains whose DNS never answers: each lookup waits for its timeout, so the names asked
  // early show how many domains were in flight at once. c2s_tls has no RFC 6120 fallback, so
  // nothing is probed and the round is the lookups alone.
  const domains = Array.from({ length: 100 }, (_, i) => `slow${i}.test`);
  const silent = await startDnsServer(Object.fromEntries(domains.map((d) => [`_xmpps-client._tcp.${d}`, 'SILENT' as const])));
  try {
    const config = configSchema.parse({ probes: { modules: ['c2s_tls'], dns: { servers: [silent.address] }, timeout: 1 } }).probes;
    const prober = new LiveProber(config, createLogger('silent'), () => undefined);
    const round = prober.runOnce(domains);
    await new Promise((r) => setTimeout(r, 600));
    const asked = () => new Set(silent.queries.map((q) => q.replace(/^_xmpps-client\._tcp\.| SRV$/g, '')));
    const early = asked().size;
    expect(early).toBeGreaterThan(0);
    expect(early).toBeLessThanOrEqual(32);
    await round;
    expect(asked()).toEqual(new Set(domains));
  } finally {
    await silent.close();
  }
}, 30_000);

test('probes.ca is read once per config (one TLS context per trust store), and again after a reload', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-ca-'));
  try {
    const ca = await mint({ names: ['ca.test'], notAfter: 30 * DAY });
    const file = path.join(dir, 'ca.pem');
    fs.writeFileSync(file, ca.pem);
    const log = createLogger('silent');
    const loaded = configSchema.parse({ probes: { ca: [file] } }).probes;
    const first = trustStore(loaded.ca, log);
    expect(first).toContain(ca.pem);
    const other = await mint({ names: ['other.test'], notAfter: 30 * DAY });
    fs.writeFileSync(file, other.pem);
    expect(trustStore(loaded.ca, log)).toBe(first); // same config: no re-read, the same array (the prober's context key)
    const reloaded = configSchema.parse({ probes: { ca: [file] } }).probes;
    expect(trustStore(reloaded.ca, log)).toContain(other.pem);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
