/**
 * The dns-01 propagation wait against two real (in-test) authoritative DNS servers on loopback:
 * it returns only once every server answers every value, keeps asking a server that lacks the
 * record (no cached negative answer hides it), and on timeout names each record with the servers
 * still lacking it, and why (SERVFAIL).
 */
import { waitForTxt, type TxtRecord } from '../../src/renewal/challenges/dns-propagation';
import { RenewalError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import { startDnsServer, type DnsServer } from '../helpers/dns-server';

const log = createLogger('silent');
const NAME = '_acme-challenge.conference.example.org';
let a: DnsServer;
let b: DnsServer;

beforeAll(async () => {
  a = await startDnsServer({ [NAME]: { TXT: ['other', 'value-1'] } });
  b = await startDnsServer({});
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

const record = (value: string, servers: DnsServer[]): TxtRecord => ({
  domain: 'conference.example.org',
  name: NAME,
  value,
  servers: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
});

test('waits until the lagging server answers too, asking it again each time', async () => {
  b.set({});
  let published = false;
  const queriesBefore = b.queries.length;
  setTimeout(() => {
    published = true;
    b.set({ [NAME]: { TXT: [['value', '-1']] } }); // two character-strings: joined before comparing
  }, 700);
  await waitForTxt([record('value-1', [a, b])], 10_000, log);
  expect(published).toBe(true);
  expect(b.queries.length - queriesBefore).toBeGreaterThanOrEqual(3);
});

test('on timeout: names the record and only the servers that lack it', async () => {
  b.set({ [NAME]: { TXT: ['something else'] } });
  const err = (await waitForTxt([record('value-1', [a, b])], 1500, log).catch((e: unknown) => e)) as RenewalError;
  expect(err).toBeInstanceOf(RenewalError);
  expect(err.reason).toBe('challenge_setup');
  expect(err.domain).toBe('conference.example.org');
  expect(err.message).toContain(`${NAME} at 127.0.0.1:${b.port}`);
  expect(err.message).not.toContain(`127.0.0.1:${a.port}`);
  expect(err.message).toContain('rfc2136.propagationTimeout');
});

test('a server that answers SERVFAIL is reported with the error', async () => {
  b.set({ [NAME]: 'SERVFAIL' });
  const err = (await waitForTxt([record('value-1', [b])], 1000, log).catch((e: unknown) => e)) as RenewalError;
  expect(err.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${b.port}: .*SERVFAIL`));
});
