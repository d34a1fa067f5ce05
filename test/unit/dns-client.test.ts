/**
 * The stub resolver for TLSA and for A/AAAA through probes.dns.servers, against the test's own
 * DNS server on loopback: TLSA records and the AD bit, TCP after a truncated UDP answer, every
 * failure as a reason (SERVFAIL, REFUSED, silence, nothing listening, a bad server address), and
 * the address rules: every A and AAAA, `ipVersions`, an IP address standing for itself.
 */
import { parseServer, query } from '../../src/sources/dns';
import { lookupTlsa, resolveAddresses } from '../../src/sources/resolve';
import { freeUdpPort, startDnsServer, type DnsServer } from '../helpers/dns-server';

let dns: DnsServer;
beforeAll(async () => {
  dns = await startDnsServer();
});
afterAll(() => dns.close());
beforeEach(() => {
  dns.set({});
  dns.queries.length = 0;
});

const HASH = 'ab'.repeat(32);
const options = () => ({ servers: [dns.address], timeoutMs: 1000 });

describe('TLSA', () => {
  test('records at _PORT._tcp.HOST, with the AD bit as the server set it', async () => {
    dns.set({
      '_5222._tcp.xmpp.example.test': {
        TLSA: [
          { usage: 3, selector: 1, matchingType: 1, data: HASH },
          { usage: 2, selector: 0, matchingType: 2, data: 'CD'.repeat(64) },
        ],
        authenticated: true,
      },
      '_5269._tcp.xmpp.example.test': { TLSA: [{ usage: 3, selector: 1, matchingType: 1, data: HASH }] },
    });
    expect(await lookupTlsa('xmpp.example.test', 5222, options())).toEqual({
      ok: true,
      name: '_5222._tcp.xmpp.example.test',
      authenticated: true,
      records: [
        { usage: 3, selector: 1, matchingType: 1, data: HASH },
        { usage: 2, selector: 0, matchingType: 2, data: 'cd'.repeat(64) },
      ],
    });
    expect(await lookupTlsa('xmpp.example.test', 5269, options())).toMatchObject({ ok: true, authenticated: false });
    expect(dns.queries).toEqual(['_5222._tcp.xmpp.example.test TLSA', '_5269._tcp.xmpp.example.test TLSA']);
  });

  test('no records (NXDOMAIN or NODATA) is an answer with none; an IP address has no TLSA name and is not looked up', async () => {
    dns.set({ '_5222._tcp.nodata.test': { A: ['127.0.0.1'] } });
    expect(await lookupTlsa('nx.test', 5222, options())).toEqual({ ok: true, name: '_5222._tcp.nx.test', records: [], authenticated: false });
    expect(await lookupTlsa('nodata.test', 5222, options())).toMatchObject({ ok: true, records: [] });
    expect(await lookupTlsa('127.0.0.1', 5222, options())).toBeUndefined();
    expect(await lookupTlsa('::1', 5222, options())).toBeUndefined();
    expect(dns.queries).toHaveLength(2);
  });

  test('a truncated UDP answer is asked again over TCP', async () => {
    const records = Array.from({ length: 3 }, (_, i) => ({ usage: 3, selector: 0, matchingType: 1, data: String(i).repeat(64) }));
    dns.set({ '_5222._tcp.big.test': { TLSA: records, truncate: true, authenticated: true } });
    const found = await lookupTlsa('big.test', 5222, options());
    expect(found).toMatchObject({ ok: true, authenticated: true });
    expect(found?.ok && found.records.map((r) => r.data)).toEqual(records.map((r) => r.data));
    expect(dns.queries).toEqual(['_5222._tcp.big.test TLSA', '_5222._tcp.big.test TLSA TCP']);
  });
});

describe('failures are reasons, within the deadline', () => {
  test('SERVFAIL (what a validating resolver answers for a bogus signature) and REFUSED', async () => {
    dns.set({ '_5222._tcp.bogus.test': 'SERVFAIL', '_5222._tcp.refused.test': 'REFUSED' });
    expect(await lookupTlsa('bogus.test', 5222, options())).toMatchObject({ ok: false, reason: 'servfail', name: '_5222._tcp.bogus.test' });
    expect(await lookupTlsa('refused.test', 5222, options())).toMatchObject({ ok: false, reason: 'refused' });
  });

  test('silence: timeout within timeoutMs (tried twice); a second server that answers is used', async () => {
    dns.set({ 'quiet.test': 'SILENT' });
    const started = Date.now();
    expect(await query('quiet.test', 'A', { servers: [dns.address], timeoutMs: 500 })).toMatchObject({ ok: false, reason: 'timeout' });
    expect(Date.now() - started).toBeLessThan(800);
    expect(dns.queries).toEqual(['quiet.test A', 'quiet.test A']);

    const other = await startDnsServer({ 'quiet.test': { A: ['192.0.2.7'] } });
    try {
      const answer = await query('quiet.test', 'A', { servers: [dns.address, other.address], timeoutMs: 1000 });
      expect(answer.ok && answer.answers.map((a) => (a.type === 'A' ? a.data : a.type))).toEqual(['192.0.2.7']);
    } finally {
      await other.close();
    }
  });

  test('nothing listening is "refused" at once; a server that is not an IP address is "bad_server" and asks nobody', async () => {
    const port = await freeUdpPort();
    const started = Date.now();
    expect(await query('x.test', 'A', { servers: [`127.0.0.1:${port}`], timeoutMs: 2000 })).toMatchObject({ ok: false, reason: 'refused' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await query('x.test', 'A', { servers: ['dns.example.net'], timeoutMs: 2000 })).toMatchObject({
      ok: false,
      reason: 'bad_server',
      message: expect.stringContaining('probes.dns.servers: "dns.example.net"'),
    });
  });

  test('server notation: address, address:port, [v6]:port, bare v6', () => {
    expect(parseServer('192.0.2.1')).toEqual({ host: '192.0.2.1', port: 53 });
    expect(parseServer('127.0.0.1:5353')).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(parseServer('[::1]:5353')).toEqual({ host: '::1', port: 5353 });
    expect(parseServer('2001:db8::1')).toEqual({ host: '2001:db8::1', port: 53 });
    for (const bad of ['dns.example.net', '127.0.0.1:0', '127.0.0.1:99999', '[::1]:x', '']) expect(parseServer(bad)).toBeUndefined();
  });
});

describe('addresses', () => {
  const config = (ipVersions: Array<4 | 6> = [4, 6]) => ({ ...options(), ipVersions });

  test('every A and AAAA address from probes.dns.servers, IPv6 first; ipVersions restricts', async () => {
    dns.set({ 'xmpp.example.test': { A: ['192.0.2.1', '192.0.2.2'], AAAA: ['2001:db8::1'] } });
    expect(await resolveAddresses('xmpp.example.test', config())).toEqual({ ok: true, addresses: ['2001:db8::1', '192.0.2.1', '192.0.2.2'] });
    expect(await resolveAddresses('xmpp.example.test', config([4]))).toEqual({ ok: true, addresses: ['192.0.2.1', '192.0.2.2'] });
    expect(await resolveAddresses('xmpp.example.test', config([6]))).toEqual({ ok: true, addresses: ['2001:db8::1'] });
    expect(dns.queries.filter((q) => q.endsWith(' A'))).toHaveLength(2);
    expect(dns.queries.filter((q) => q.endsWith(' AAAA'))).toHaveLength(2);
  });

  test('no address is a dns failure naming the host; a failed lookup says why', async () => {
    dns.set({ 'v6only.test': { AAAA: ['::1'] }, 'half.test': { A: ['127.0.0.1'] } });
    expect(await resolveAddresses('none.test', config())).toEqual({ ok: false, reason: 'dns', message: 'none.test has no AAAA or A record' });
    expect(await resolveAddresses('v6only.test', config([4]))).toEqual({ ok: false, reason: 'dns', message: 'v6only.test has no A record' });
    dns.set({ 'half.test': 'SERVFAIL' });
    expect(await resolveAddresses('half.test', config())).toMatchObject({ ok: false, reason: 'dns', message: expect.stringContaining('SERVFAIL') });
  });

  test('an IP address stands for itself (no lookup); without servers the system resolver answers (/etc/hosts)', async () => {
    expect(await resolveAddresses('127.0.0.1', config())).toEqual({ ok: true, addresses: ['127.0.0.1'] });
    expect(await resolveAddresses('::1', config([4]))).toEqual({ ok: true, addresses: ['::1'] });
    expect(dns.queries).toEqual([]);
    const system = await resolveAddresses('localhost', { servers: [], timeoutMs: 1000, ipVersions: [4] });
    expect(system).toEqual({ ok: true, addresses: ['127.0.0.1'] });
  });
});
