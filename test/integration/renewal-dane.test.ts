/**
 * Key reuse (issue 18) seen by the DANE probe (issue 17), end to end: the worker renews a real
 * Prosody's certificate from a real Pebble with `renewal.key.reuse`, reloads Prosody, and the
 * exporter's own check (`xmpp-cert monitor --json`, resolving SRV, A and TLSA through the test's
 * DNS server) says whether the published TLSA `3 1 1` record matches what Prosody serves:
 * - after a second renewal with the same key the record published for the first still matches;
 * - the DANE rollover of docs/runbook.md: publish what `xmpp-cert tlsa` prints (current and next
 *   key), `renew --rotate-key`, and the record set still matches while the key changed;
 * - the control: a record for the old key alone does not match the rotated key.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDnsServer, type DnsServer, type DnsTable } from '../helpers/dns-server';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { runCliAsync } from '../helpers/process';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { DAY, mint } from '../helpers/certs';
import { describeWithTools } from '../helpers/tools';

const DOMAIN = 'dane-renew.test';
const TARGET = 'xmpp.dane-renew.test';

interface ServedDane {
  source: string;
  address?: string;
  certificates: Array<{ serial: string }>;
  dane?: { match: boolean; records: Array<{ data: string; matches: boolean }> };
}

describeWithTools(['prosody', 'pebble', 'pebble-challtestsrv', 'openssl'], 'key reuse keeps a published TLSA record matching the served certificate', () => {
  jest.setTimeout(90_000);
  let pebble: RunningPebble;
  let prosody: RunningProsody;
  let dns: DnsServer;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-dane-renew-'));
  const configFile = path.join(root, 'xmpp-cert.yml');

  const tlsaOwner = () => `_${prosody.ports.c2s}._tcp.${TARGET}`;
  function publish(spkiHashes: string[]): void {
    const table: DnsTable = {
      [`_xmpp-client._tcp.${DOMAIN}`]: { SRV: [{ priority: 0, weight: 0, port: prosody.ports.c2s, target: `${TARGET}.` }] },
      [TARGET]: { A: ['127.0.0.1'] },
      [tlsaOwner()]: { TLSA: spkiHashes.map((data) => ({ usage: 3, selector: 1, matchingType: 1, data })), authenticated: true },
    };
    dns.set(table);
  }

  /** The SHA-256 of the installed key's SubjectPublicKeyInfo: what a `3 1 1` record carries. */
  const installedSpki = () =>
    crypto
      .createHash('sha256')
      .update(crypto.createPublicKey(fs.readFileSync(path.join(prosody.certs, DOMAIN, 'privkey.pem'))).export({ type: 'spki', format: 'der' }))
      .digest('hex');

  async function renew(...args: string[]): Promise<void> {
    const result = await runCliAsync(['renew', DOMAIN, '--force', ...args, '--config', configFile]);
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
    expect(result.stdout).toMatch(/verify: .*served|every endpoint serves the new certificate/);
  }

  /** The c2s endpoint at 127.0.0.1 as `xmpp-cert monitor --json` reports it. */
  async function served(): Promise<ServedDane> {
    const result = await runCliAsync(['monitor', '--json', '--config', configFile]);
    const report = JSON.parse(result.stdout) as { served: ServedDane[] };
    const endpoint = report.served.find((s) => s.source === 'c2s_starttls' && s.address === '127.0.0.1');
    expect(endpoint).toBeDefined();
    return endpoint!;
  }

  beforeAll(async () => {
    pebble = await startPebble({ noAuthzReuse: true });
    prosody = await startProsody({
      hosts: [DOMAIN],
      // A certificate to start with: the worker takes the host over at its first renewal.
      writeCerts: async (certs) => {
        const first = await mint({ names: [DOMAIN], notAfter: 40 * DAY });
        fs.mkdirSync(path.join(certs, DOMAIN));
        fs.writeFileSync(path.join(certs, DOMAIN, 'fullchain.pem'), first.pem);
        fs.writeFileSync(path.join(certs, DOMAIN, 'privkey.pem'), first.keyPem, { mode: 0o600 });
      },
    });
    dns = await startDnsServer({});
    publish([]);
    const pebbleRoot = path.join(root, 'pebble-root.pem');
    fs.writeFileSync(pebbleRoot, await pebble.roots());
    const config = {
      prosody: { config: path.join(prosody.dir, 'prosody.cfg.lua') },
      probes: { modules: ['c2s'], dns: { servers: [dns.address] }, ipVersions: [4], ca: [pebbleRoot], timeout: 3 },
      renewal: {
        stateDir: path.join(root, 'state'),
        retry: { count: 1, delay: 0 },
        key: { reuse: true },
        verify: { timeout: 20 },
        reload: { signal: 'HUP', pidfile: path.join(prosody.dir, 'prosody.pid') },
        issuers: [
          { type: 'acme', directory: pebble.directoryUrl, ca: [pebble.caFile], challenge: { type: 'http-01', listen: `127.0.0.1:${pebble.httpPort}` } },
        ],
      },
    };
    fs.writeFileSync(configFile, JSON.stringify(config));
  }, 60_000);

  afterAll(async () => {
    await prosody?.stop();
    await pebble?.stop();
    await dns?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  let firstSerial = '';
  let firstSpki = '';

  test('the record published after the first renewal matches what Prosody serves', async () => {
    await renew();
    firstSpki = installedSpki();
    publish([firstSpki]);
    const endpoint = await served();
    firstSerial = endpoint.certificates[0]!.serial;
    expect(endpoint.dane).toMatchObject({ match: true, records: [{ data: firstSpki, matches: true }] });
  });

  test('a second renewal reuses the key: a new certificate is served, the same record still matches', async () => {
    await renew();
    expect(installedSpki()).toBe(firstSpki);
    const endpoint = await served();
    expect(endpoint.certificates[0]!.serial).not.toBe(firstSerial);
    expect(endpoint.dane).toMatchObject({ match: true, records: [{ data: firstSpki, matches: true }] });
  });

  test('the rollover: publish what `xmpp-cert tlsa` prints, rotate the key, and the record set still matches', async () => {
    const tlsa = await runCliAsync(['tlsa', DOMAIN, '--host', TARGET, '--port', String(prosody.ports.c2s), '--config', configFile]);
    expect(tlsa.status).toBe(0);
    const printed = [...tlsa.stdout.matchAll(new RegExp(`^${tlsaOwner().replace(/\./g, '\\.')}\\. IN TLSA 3 1 1 ([0-9a-f]{64})$`, 'gm'))].map((m) => m[1]!);
    expect(printed).toHaveLength(2); // the current key and the prepared next one
    expect(printed[0]).toBe(firstSpki);
    publish(printed);
    await renew('--rotate-key');
    const rotated = installedSpki();
    expect(rotated).toBe(printed[1]);
    expect((await served()).dane).toMatchObject({ match: true, records: [{ matches: false }, { data: rotated, matches: true }] });
    // The control: with only the old key's record published, the rotated key does not match.
    publish([firstSpki]);
    expect((await served()).dane).toMatchObject({ match: false, records: [{ data: firstSpki, matches: false }] });
  });
});
