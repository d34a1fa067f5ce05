/**
 * Issue 13 "never worse", point 6, with two real Pebbles and a real Prosody: Pebble A is the
 * production CA (its root 0 in probes.ca, so its chain verifies), Pebble B plays a staging CA (its
 * own root, trusted by nobody). A certificate from B never replaces A's unless forced with
 * --allow-untrusted; once B's certificate is in place and the config is back on A, it is due at
 * once. A wrong chain (A's alternate chain to a root nobody trusts, PEBBLE_ALTERNATE_ROOTS) is
 * refused the same way. `renew --dry-run` orders the whole certificate and changes nothing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { freePort, startProsody, type RunningProsody } from '../helpers/prosody-server';
import { acmeIssuer, scenario, withWorker, type Scenario } from '../helpers/renewal-setup';
import { describeWithTools } from '../helpers/tools';

const HOSTS = ['trust', 'chain', 'dry'].map((h) => `${h}.example.test`);

describeWithTools(['prosody', 'pebble', 'pebble-challtestsrv', 'openssl'], 'trust before install, dry run (two Pebbles, Prosody)', () => {
  jest.setTimeout(60_000);
  let production: RunningPebble;
  let staging: RunningPebble;
  let prosody: RunningProsody;
  let rootFile: string;

  beforeAll(async () => {
    [production, staging, prosody] = await Promise.all([
      startPebble({ alternateRoots: 1 }),
      startPebble(),
      startProsody({ hosts: HOSTS, writeCerts: () => undefined }),
    ]);
    rootFile = path.join(prosody.dir, 'production-root.pem');
    fs.writeFileSync(rootFile, await production.roots(0));
  });
  afterAll(() => Promise.all([prosody?.stop(), production?.stop(), staging?.stop()]));

  /** A group with a trusted certificate from the production CA in place, served by Prosody. */
  async function trustedGroup(name: string): Promise<Scenario> {
    const s = scenario(production, prosody, [name], { issuers: [acmeIssuer(production)] });
    s.edit((c) => (c.probes.ca = [rootFile]));
    expect((await withWorker(s.worker(), (w) => w.check()))[0]).toMatchObject({ result: 'renewed', verify: { result: 'served' } });
    return s;
  }

  test('a staging certificate never replaces a trusted one unless forced; left in place, it is due at once once staging is off', async () => {
    const name = 'trust.example.test';
    const s = await trustedGroup(name);
    const trusted = s.onDisk(name);

    s.edit((c) => (c.renewal.issuers = [acmeIssuer(staging, { name: 'staging', staging: true })]));
    const refused = await s.cli(['renew', name, '--force']);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(
      /failed \(untrusted\): trust\.example\.test: the certificate staging issued does not verify \(no trusted root for CN=Pebble Root CA [0-9a-f]+ \(not among the system roots or probes\.ca\)\), but the one in place does \(verifies up to CN=Pebble Root CA [0-9a-f]+\); it was not installed\. A staging CA or a wrong chain\? .*--allow-untrusted/,
    );
    expect(s.onDisk(name)).toBe(trusted);
    expect(await s.served(name)).toBe(trusted);
    expect(s.group(name)).toMatchObject({ failures: { untrusted: 1 }, lastReason: 'untrusted', consecutiveFailures: 1 });

    const forced = await s.cli(['renew', name, '--force', '--allow-untrusted']);
    expect(forced.code).toBe(0);
    expect(forced.out).toMatch(/warning: the new certificate does not verify .*installing it anyway \(--allow-untrusted\)/);
    const fromStaging = s.onDisk(name);
    expect(fromStaging).not.toBe(trusted);
    expect(await s.served(name)).toBe(fromStaging);
    expect(s.group(name)).toMatchObject({ issuer: 'staging', staging: true });

    // Test mode off: the production CA again. Not forced: the staging certificate is due by itself.
    s.edit((c) => (c.renewal.issuers = [acmeIssuer(production)]));
    const back = await s.cli(['renew', name]);
    expect(back.code).toBe(0);
    expect(back.out).toMatch(/due: a staging \(test\) certificate is in place and no staging issuer is configured any more/);
    const again = s.onDisk(name);
    expect([trusted, fromStaging]).not.toContain(again);
    expect(await s.served(name)).toBe(again);
    expect(s.group(name).staging).toBeUndefined();
  });

  test("a wrong chain (the CA's alternate chain to an untrusted root) is refused like a staging certificate", async () => {
    const name = 'chain.example.test';
    const s = await trustedGroup(name);
    const trusted = s.onDisk(name);
    const alternateRoot = new crypto.X509Certificate(await production.roots(1)).subject.replace(/^CN=/, '');
    s.edit((c) => (c.renewal.issuers = [acmeIssuer(production, { preferredChain: alternateRoot })]));
    const refused = await s.cli(['renew', name, '--force']);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/failed \(untrusted\): .*does not verify \(no trusted root for .*\), but the one in place does/);
    expect(s.onDisk(name)).toBe(trusted);
    expect(await s.served(name)).toBe(trusted);
  });

  test('renew --dry-run orders the whole certificate and says what it would install; nothing else changes', async () => {
    const name = 'dry.example.test';
    const s = await trustedGroup(name);
    const files = ['fullchain.pem', 'privkey.pem'].map((f) => path.join(prosody.certs, name, f));
    const snapshot = () => [...files, path.join(s.stateDir, 'state.json')].map((f) => fs.readFileSync(f, 'utf8'));
    const before = snapshot();
    const generations = fs.readdirSync(path.join(prosody.certs, '.xmpp-cert', name));

    const dry = await s.cli(['renew', name, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/dry\.example\.test: dry run: ordering from 127\.0\.0\.1:\d+ \(https:\/\/127\.0\.0\.1:\d+\/dir\) for dry\.example\.test/);
    expect(dry.out).toMatch(/dry run: would install a certificate for dry\.example\.test\n/);
    expect(dry.out).toMatch(/dry run: issuer: CN=Pebble Intermediate CA [0-9a-f]+; valid \S+ to \S+ \(lifetime \d+(\.\d)? days\)/);
    expect(dry.out).toMatch(/dry run: the chain verifies \(verifies up to CN=Pebble Root CA/);
    expect(dry.out).toMatch(/dry run: nothing was installed, reloaded or recorded\n/);
    expect(snapshot()).toEqual(before);
    expect(fs.readdirSync(path.join(prosody.certs, '.xmpp-cert', name))).toEqual(generations);
    expect(await s.served(name)).toBe(s.onDisk(name));

    const port = await freePort();
    s.edit((c) => (c.renewal.issuers = [acmeIssuer(production, {}, `https://127.0.0.1:${port}/dir`)]));
    const down = await s.cli(['renew', name, '--dry-run']);
    expect(down.code).toBe(1);
    expect(down.out).toMatch(/dry run: 127\.0\.0\.1:\d+ failed: .*(refused|ECONNREFUSED)/);
    expect(down.out).toMatch(/nothing was installed, reloaded or recorded; no issuer could issue/);
    expect(snapshot()).toEqual(before);
  });
});
