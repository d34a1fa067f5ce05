import { promises as nodeDns } from 'node:dns';
import { mergeEndpoints, resolveEndpoints, rfc2782Order } from '../../src/sources/srv';
import { freeUdpPort, startDnsServer, type DnsServer } from '../helpers/dns-server';

const D = 'example.test';
let dns: DnsServer;

beforeAll(async () => {
  dns = await startDnsServer();
});
afterAll(() => dns.close());
beforeEach(() => {
  dns.set({});
  dns.queries.length = 0;
});

/** Endpoints and errors only; the lookups' outcomes have their own test. */
const withoutLookups = ({ endpoints, errors }: Awaited<ReturnType<typeof resolveEndpoints>>) => ({ endpoints, errors });
const resolveWith = async (domain: string, options: Parameters<typeof resolveEndpoints>[1]) => withoutLookups(await resolveEndpoints(domain, options));
const resolve = (options: { timeoutMs?: number; random?: () => number; modules?: Parameters<typeof resolveEndpoints>[1]['modules'] } = {}) =>
  resolveWith(D, { servers: [dns.address], timeoutMs: 2000, random: () => 0.5, ...options });

const ep = (host: string, port: number, module: 'c2s' | 's2s' | 'c2s_tls' | 's2s_tls' | 'https', domain = D) => ({ domain, host, port, module });

/** Returns the values in turn, then 0. */
const sequence = (values: number[]) => () => values.shift() ?? 0;

describe('resolveEndpoints', () => {
  test('all four SRV names, ordered by priority, then weighted (fixed random 0.5)', async () => {
    dns.set({
      [`_xmpp-client._tcp.${D}`]: {
        SRV: [
          { priority: 20, weight: 0, port: 5222, target: 'backup.example.test' },
          { priority: 10, weight: 30, port: 5222, target: 'c.example.test' },
          { priority: 10, weight: 0, port: 5223, target: 'a.example.test' },
          { priority: 10, weight: 10, port: 5224, target: 'b.example.test' },
        ],
      },
      [`_xmpps-client._tcp.${D}`]: {
        SRV: [
          { priority: 5, weight: 1, port: 5223, target: 'xmpp.example.test' },
          { priority: 1, weight: 1, port: 443, target: 'edge.example.test' },
        ],
      },
      [`_xmpp-server._tcp.${D}`]: {
        SRV: [
          { priority: 0, weight: 1, port: 5269, target: 's1.example.test' },
          { priority: 0, weight: 9, port: 5270, target: 's2.example.test' },
        ],
      },
      [`_xmpps-server._tcp.${D}`]: { SRV: [{ priority: 0, weight: 0, port: 5270, target: 'xmpp.example.test' }] },
    });
    // c2s priority 10, zero weight first: [a(0), c(30), b(10)], sum 40: draw floor(0.5*41)=20 -> c;
    // then [a(0), b(10)], draw floor(0.5*11)=5 -> b; then a. s2s: [s1(1), s2(9)], draw 5 -> s2.
    expect(await resolve()).toEqual({
      endpoints: [
        ep('c.example.test', 5222, 'c2s'),
        ep('b.example.test', 5224, 'c2s'),
        ep('a.example.test', 5223, 'c2s'),
        ep('backup.example.test', 5222, 'c2s'),
        ep('edge.example.test', 443, 'c2s_tls'),
        ep('xmpp.example.test', 5223, 'c2s_tls'),
        ep('s2.example.test', 5270, 's2s'),
        ep('s1.example.test', 5269, 's2s'),
        ep('xmpp.example.test', 5270, 's2s_tls'),
      ],
      errors: [],
    });
    expect([...dns.queries].sort()).toEqual([
      `_xmpp-client._tcp.${D} SRV`,
      `_xmpp-server._tcp.${D} SRV`,
      `_xmpps-client._tcp.${D} SRV`,
      `_xmpps-server._tcp.${D} SRV`,
    ]);
  });

  test('no SRV records: the domain on 5222 and 5269 (NXDOMAIN and NODATA alike), nothing for xmpps', async () => {
    dns.set({ [D]: { A: ['127.0.0.1'] }, [`_xmpp-server._tcp.${D}`]: { TXT: ['not an SRV record'] } });
    expect(await resolveWith('Example.TEST.', { servers: [dns.address], timeoutMs: 2000 })).toEqual({
      endpoints: [ep(D, 5222, 'c2s', 'Example.TEST.'), ep(D, 5269, 's2s', 'Example.TEST.')],
      errors: [],
    });
  });

  test('a single "." target disables the module and its fallback; "." among other targets is skipped', async () => {
    dns.set({
      [`_xmpp-client._tcp.${D}`]: { SRV: [{ priority: 0, weight: 0, port: 0, target: '.' }] },
      [`_xmpps-client._tcp.${D}`]: {
        SRV: [
          { priority: 0, weight: 0, port: 0, target: '.' },
          { priority: 1, weight: 0, port: 5223, target: 'xmpp.example.test' },
        ],
      },
    });
    expect(await resolve()).toEqual({
      endpoints: [ep('xmpp.example.test', 5223, 'c2s_tls'), ep(D, 5269, 's2s')],
      errors: [],
    });
  });

  test('SERVFAIL and REFUSED are errors, and no fallback: the targets are unknown, not absent (RFC 6120 3.2.1 step 5)', async () => {
    dns.set({
      [`_xmpp-client._tcp.${D}`]: 'SERVFAIL',
      [`_xmpp-server._tcp.${D}`]: 'REFUSED',
      [`_xmpps-server._tcp.${D}`]: 'SERVFAIL',
    });
    expect(await resolve()).toEqual({
      endpoints: [],
      errors: [
        { record: `_xmpp-client._tcp.${D}`, code: 'servfail', message: `querySrv ESERVFAIL _xmpp-client._tcp.${D}` },
        { record: `_xmpp-server._tcp.${D}`, code: 'refused', message: `querySrv EREFUSED _xmpp-server._tcp.${D}` },
        { record: `_xmpps-server._tcp.${D}`, code: 'servfail', message: `querySrv ESERVFAIL _xmpps-server._tcp.${D}` },
      ],
    });
  });

  test('a silent server: timeout within timeoutMs + 300 ms, no fallback, other lookups unaffected', async () => {
    dns.set({
      [`_xmpp-client._tcp.${D}`]: { SRV: [{ priority: 0, weight: 0, port: 5222, target: 'xmpp.example.test' }] },
      [`_xmpp-server._tcp.${D}`]: 'SILENT',
      [`_xmpps-server._tcp.${D}`]: 'SILENT',
    });
    const started = Date.now();
    const result = await resolve({ timeoutMs: 600 });
    expect(Date.now() - started).toBeLessThan(900);
    expect(result).toEqual({
      endpoints: [ep('xmpp.example.test', 5222, 'c2s')],
      errors: [
        { record: `_xmpp-server._tcp.${D}`, code: 'timeout', message: `_xmpp-server._tcp.${D}: no answer within 600 ms` },
        { record: `_xmpps-server._tcp.${D}`, code: 'timeout', message: `_xmpps-server._tcp.${D}: no answer within 600 ms` },
      ],
    });
    expect(dns.queries.filter((q) => q === `_xmpp-server._tcp.${D} SRV`).length).toBeGreaterThanOrEqual(1);
  });

  test('two silent servers: the deadline holds (c-ares alone would retry for ~3.5x timeoutMs)', async () => {
    const other = await startDnsServer({ [`_xmpp-client._tcp.${D}`]: 'SILENT' });
    try {
      dns.set({ [`_xmpp-client._tcp.${D}`]: 'SILENT' });
      const started = Date.now();
      const result = await resolveWith(D, { servers: [dns.address, other.address], timeoutMs: 600, modules: ['c2s'] });
      expect(Date.now() - started).toBeLessThan(900);
      expect(result).toEqual({
        endpoints: [],
        errors: [{ record: `_xmpp-client._tcp.${D}`, code: 'timeout', message: `_xmpp-client._tcp.${D}: no answer within 600 ms` }],
      });
    } finally {
      await other.close();
    }
  });

  test('a dead server (nothing listening) is "refused" and bounded by timeoutMs; a bad address never reaches DNS', async () => {
    const closed = await freeUdpPort();
    const started = Date.now();
    const dead = await resolveWith(D, { servers: [`127.0.0.1:${closed}`], timeoutMs: 600, modules: ['c2s'] });
    expect(Date.now() - started).toBeLessThan(900);
    expect(dead).toEqual({
      endpoints: [],
      errors: [{ record: `_xmpp-client._tcp.${D}`, code: 'refused', message: `querySrv ECONNREFUSED _xmpp-client._tcp.${D}` }],
    });

    const bad = await resolveWith(D, { servers: ['dns.example.net'], timeoutMs: 600, modules: ['s2s', 's2s_tls'] });
    expect(bad).toEqual({
      endpoints: [],
      errors: [
        { record: `_xmpp-server._tcp.${D}`, code: 'bad_server', message: 'Invalid IP address: dns.example.net' },
        { record: `_xmpps-server._tcp.${D}`, code: 'bad_server', message: 'Invalid IP address: dns.example.net' },
      ],
    });
  });

  test('targets are lower-cased without the trailing dot; duplicates (host, port, module) dropped keeping the first', async () => {
    dns.set({
      [`_xmpp-client._tcp.${D}`]: {
        SRV: [
          { priority: 10, weight: 0, port: 5222, target: 'XMPP.Example.TEST.' },
          { priority: 10, weight: 0, port: 5222, target: 'xmpp.example.test' },
          { priority: 20, weight: 0, port: 5222, target: 'xmpp.example.test.' },
          { priority: 20, weight: 0, port: 5322, target: 'Xmpp.example.test' },
        ],
      },
      [`_xmpps-client._tcp.${D}`]: { SRV: [{ priority: 0, weight: 0, port: 5222, target: 'XMPP.example.test' }] },
    });
    expect(await resolve({ random: () => 0 })).toEqual({
      endpoints: [ep('xmpp.example.test', 5222, 'c2s'), ep('xmpp.example.test', 5322, 'c2s'), ep('xmpp.example.test', 5222, 'c2s_tls'), ep(D, 5269, 's2s')],
      errors: [],
    });
  });

  test('each lookup says what DNS answered: records, NXDOMAIN, no records, "." (not offered) or a failure with its reason', async () => {
    dns.set({
      [`_xmpp-client._tcp.${D}`]: { SRV: [{ priority: 0, weight: 0, port: 5222, target: 'xmpp.example.test' }] },
      [`_xmpps-client._tcp.${D}`]: { TXT: ['no SRV here'] },
      [`_xmpp-server._tcp.${D}`]: 'SERVFAIL',
      [`_xmpps-server._tcp.${D}`]: { SRV: [{ priority: 0, weight: 0, port: 0, target: '.' }] },
    });
    const { lookups } = await resolveEndpoints(D, { servers: [dns.address], timeoutMs: 2000 });
    expect(lookups.map(({ service, name, answer, reason }) => ({ service, name, answer, ...(reason ? { reason } : {}) }))).toEqual([
      { service: 'xmpp-client', name: `_xmpp-client._tcp.${D}`, answer: 'records' },
      { service: 'xmpps-client', name: `_xmpps-client._tcp.${D}`, answer: 'no_records' },
      { service: 'xmpp-server', name: `_xmpp-server._tcp.${D}`, answer: 'failed', reason: 'servfail' },
      { service: 'xmpps-server', name: `_xmpps-server._tcp.${D}`, answer: 'not_offered' },
    ]);
    dns.set({});
    const none = await resolveEndpoints(D, { servers: [dns.address], timeoutMs: 2000, modules: ['c2s'] });
    expect(none.lookups).toEqual([
      { module: 'c2s', service: 'xmpp-client', name: `_xmpp-client._tcp.${D}`, answer: 'nxdomain', endpoints: [ep(D, 5222, 'c2s')] },
    ]);
  });

  test('modules limits the lookups; https has no SRV name', async () => {
    expect(await resolve({ modules: ['s2s', 'https'] })).toEqual({ endpoints: [ep(D, 5269, 's2s')], errors: [] });
    expect(dns.queries).toEqual([`_xmpp-server._tcp.${D} SRV`]);
  });
});

describe('rfc2782Order', () => {
  const r = (name: string, priority: number, weight: number) => ({ name, priority, weight });
  const records = [r('late', 2, 5), r('c', 1, 30), r('a', 1, 0), r('b', 1, 10)];

  test('weighted selection follows the draws: 0..sum inclusive, first running sum >= draw', () => {
    // [a(0), c(30), b(10)]: floor(0.9*41)=36 -> b; [a, c(30)]: floor(0.5*31)=15 -> c; then a.
    expect(rfc2782Order(records, sequence([0.9, 0.5])).map((x) => x.name)).toEqual(['b', 'c', 'a', 'late']);
  });

  test('draw 0 takes zero-weight records first, then keeps the answer order', () => {
    expect(rfc2782Order(records, () => 0).map((x) => x.name)).toEqual(['a', 'c', 'b', 'late']);
  });

  test('a random function outside [0, 1) cannot loop or lose records', () => {
    expect(rfc2782Order(records, () => 1).map((x) => x.name)).toEqual(['a', 'c', 'b', 'late']);
    expect(rfc2782Order(records, () => NaN).map((x) => x.name)).toEqual(['a', 'c', 'b', 'late']);
  });
});

describe('mergeEndpoints', () => {
  const discovered = [ep('xmpp.example.test', 5222, 'c2s'), ep(D, 5269, 's2s')];

  test('configured endpoints of the domain are added after the discovered ones, duplicates dropped', () => {
    const configured = [ep('XMPP.example.test.', 5222, 'c2s'), ep('xmpp.example.test', 443, 'https'), ep('other.test', 5222, 'c2s', 'other.test')];
    expect(mergeEndpoints(discovered, configured, D)).toEqual([...discovered, ep('xmpp.example.test', 443, 'https')]);
  });

  test('configured endpoints of another domain change nothing here; none configured: the discovered ones', () => {
    const configured = [ep('other.test', 5222, 'c2s', 'other.test')];
    expect(mergeEndpoints(discovered, configured, D)).toEqual(discovered);
    expect(mergeEndpoints(discovered, [], D)).toEqual(discovered);
  });
});

describe('the test DNS server', () => {
  test('A, AAAA, TXT (long strings split), NXDOMAIN, NODATA, case kept in answers, queries counted', async () => {
    dns.set({ 'Host.Example.Test.': { A: ['127.0.0.1'], AAAA: ['::1', '2001:db8::5'], TXT: ['token', ['a', 'b'], 'x'.repeat(300)] } });
    const resolver = new nodeDns.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([dns.address]);
    expect(await resolver.resolve4('host.example.test')).toEqual(['127.0.0.1']);
    expect(await resolver.resolve6('HOST.example.test')).toEqual(['::1', '2001:db8::5']);
    expect(await resolver.resolveTxt('host.example.test')).toEqual([['token'], ['a', 'b'], ['x'.repeat(255), 'x'.repeat(45)]]);
    await expect(resolver.resolveSrv('host.example.test')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(resolver.resolve4('nope.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(dns.queries).toEqual(['host.example.test A', 'host.example.test AAAA', 'host.example.test TXT', 'host.example.test SRV', 'nope.example.test A']);
  });
});
