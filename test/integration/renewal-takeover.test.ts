/**
 * Issue 13, points 1-3, on a real Prosody and a real Pebble: the worker added to a server that
 * already runs, one layout per host. Each holds a valid certificate from the operator's CA (due:
 * 10 of 90 days left) where Prosody finds it: classic `certs/HOST.crt` + `.key`, a combined
 * `HOST.pem`, a real `HOST/fullchain.pem` directory, a certbot lineage (`live/` links into
 * `archive/`, an older lineage beside it), a wildcard covering a Component, a host beside a
 * wildcard that serves other names, two files for one name, and an `ssl` table naming the
 * worker's own paths.
 *
 * With the CA down and a self-signed fallback configured, each valid CA certificate stays
 * (point 3). With the CA up, each is taken over (point 2): the worker installs at certs/NAME,
 * moves what Prosody used into its archive, and then, over 10 restarts of Prosody (a fresh index
 * and Lua hash seed each time), every host serves the new certificate on every restart,
 * `prosodyctl check certs` names the worker's file, and the next run is not due. An `ssl` table
 * naming a path outside the certificate directory, and a file that also serves a host outside the
 * group, are refused before anything is ordered, with the line or name to change. Expired,
 * untrusted and not-yet-valid certificates do not count as better: the fallback replaces them.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { prosodyctlCheckCerts } from '../helpers/agreement';
import { DAY, makeCA, mint, type TestCA } from '../helpers/certs';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { freePort, startProsody, type RunningProsody } from '../helpers/prosody-server';
import { acmeIssuer, groupScenario, servedSerial, withWorker } from '../helpers/renewal-setup';
import { describeWithTools } from '../helpers/tools';

/** Group name -> its names (the first a VirtualHost, the others Components). */
const TAKEN_OVER: Record<string, string[]> = {
  'classic.test': ['classic.test'],
  'combined.test': ['combined.test'],
  'lineage.test': ['lineage.test'],
  'certbot.test': ['certbot.test'],
  'wild.test': ['wild.test', 'muc.wild.test'],
  'wild2.test': ['wild2.test', 'muc.wild2.test'],
  'dup.test': ['dup.test'],
  'sslin.test': ['sslin.test'],
  'opt.test': ['opt.test'],
};
const WORSE = ['expired.test', 'untrusted.test', 'early.test'];
const HOSTS = [...Object.keys(TAKEN_OVER), 'other.wild2.test', 'ssl.test', 'shared.test', 'other.test', 'race.test', 'fresh.test', ...WORSE];
const COMPONENTS = { 'muc.wild.test': 'muc', 'muc.wild2.test': 'muc' };

describeWithTools(['prosody', 'prosodyctl', 'pebble', 'pebble-challtestsrv', 'openssl'], 'taking over the layouts Prosody already uses', () => {
  jest.setTimeout(90_000);
  let ca: TestCA;
  let pebble: RunningPebble;
  let prosody: RunningProsody;
  let trust: string[];
  /** What each layout held before the worker touched it: relative path -> content. */
  const before = new Map<string, string>();

  /** A pair from the operator's CA with 10 of 90 days left (due by the default threshold). */
  async function pair(ca_: TestCA, names: string[], cert: string, key: string, when: { notBefore?: number; notAfter?: number } = {}) {
    const c = await mint({ names, notBefore: when.notBefore ?? -80 * DAY, notAfter: when.notAfter ?? 10 * DAY, issuer: ca_, freshKey: true });
    for (const [file, text, mode] of [
      [cert, c.pem + ca_.pem, 0o644],
      [key, c.keyPem, 0o600],
    ] as const) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      if (file === key && file === cert) fs.appendFileSync(file, text, { mode });
      else fs.writeFileSync(file, text, { mode });
    }
  }

  beforeAll(async () => {
    ca = await makeCA('Operator CA');
    const stranger = await makeCA('CA nobody trusts');
    pebble = await startPebble();
    prosody = await startProsody({
      hosts: HOSTS,
      components: COMPONENTS,
      hostOptions: {
        'ssl.test': ['ssl = { certificate = "outside/ssl.test.crt";', '        key = "outside/ssl.test.key" }'],
        'sslin.test': ['ssl = { certificate = "certs/sslin.test/fullchain.pem"; key = "certs/sslin.test/privkey.pem" }'],
        // find_host_cert asks the index first: once the worker's file is there, this option no longer matters.
        'opt.test': ['certificate = "outside/opt.test.crt"'],
      },
      writeCerts: async (certs, dir) => {
        const at = (...p: string[]) => path.join(certs, ...p);
        await pair(ca, ['classic.test'], at('classic.test.crt'), at('classic.test.key'));
        await pair(ca, ['combined.test'], at('combined.test.pem'), at('combined.test.pem'));
        await pair(ca, ['lineage.test'], at('lineage.test', 'fullchain.pem'), at('lineage.test', 'privkey.pem'));
        await pair(ca, ['certbot.test'], at('archive', 'certbot.test', 'fullchain1.pem'), at('archive', 'certbot.test', 'privkey1.pem'), { notAfter: 5 * DAY });
        await pair(ca, ['certbot.test'], at('archive', 'certbot.test', 'fullchain2.pem'), at('archive', 'certbot.test', 'privkey2.pem'));
        fs.mkdirSync(at('live', 'certbot.test'), { recursive: true });
        fs.symlinkSync('../../archive/certbot.test/fullchain2.pem', at('live', 'certbot.test', 'fullchain.pem'));
        fs.symlinkSync('../../archive/certbot.test/privkey2.pem', at('live', 'certbot.test', 'privkey.pem'));
        await pair(ca, ['wild.test', '*.wild.test'], at('wild.test.crt'), at('wild.test.key'));
        await pair(ca, ['wild2.test'], at('wild2.test.crt'), at('wild2.test.key'));
        await pair(ca, ['*.wild2.test'], at('star.crt'), at('star.key'), { notAfter: 60 * DAY });
        await pair(ca, ['dup.test'], at('dup-a.crt'), at('dup-a.key'), { notAfter: 8 * DAY });
        await pair(ca, ['dup.test'], at('dup-b.crt'), at('dup-b.key'));
        await pair(ca, ['sslin.test'], at('sslin.test', 'fullchain.pem'), at('sslin.test', 'privkey.pem'));
        await pair(ca, ['ssl.test'], path.join(dir, 'outside', 'ssl.test.crt'), path.join(dir, 'outside', 'ssl.test.key'));
        await pair(ca, ['opt.test'], path.join(dir, 'outside', 'opt.test.crt'), path.join(dir, 'outside', 'opt.test.key'));
        await pair(ca, ['shared.test', 'other.test'], at('shared.crt'), at('shared.key'));
        await pair(ca, ['race.test'], at('race.test.crt'), at('race.test.key'));
        await pair(ca, ['expired.test'], at('expired.test.crt'), at('expired.test.key'), { notBefore: -90 * DAY, notAfter: -DAY });
        await pair(stranger, ['untrusted.test'], at('untrusted.test.crt'), at('untrusted.test.key'));
        await pair(ca, ['early.test'], at('early.test.crt'), at('early.test.key'), { notBefore: DAY, notAfter: 90 * DAY });
        for (const file of walk(certs)) before.set(path.relative(certs, file), fs.readFileSync(file, 'utf8'));
        fs.writeFileSync(path.join(dir, 'operator-ca.pem'), ca.pem);
      },
    });
    fs.writeFileSync(path.join(prosody.dir, 'pebble-root.pem'), await pebble.roots(0));
    trust = [path.join(prosody.dir, 'operator-ca.pem'), path.join(prosody.dir, 'pebble-root.pem')];
  }, 60_000);

  afterAll(() => Promise.all([prosody?.stop(), pebble?.stop()]));

  const certs = (...p: string[]) => path.join(prosody.certs, ...p);
  const isComponent = (name: string) => name in COMPONENTS;

  /** The serial Prosody serves for `domain` (c2s for a host, s2s for a Component). */
  const served = (domain: string) => servedSerial(prosody, domain, isComponent(domain) ? 's2s' : 'c2s');
  const components = new Set(Object.keys(COMPONENTS));
  /** A scenario on the lab's prosody.cfg.lua renewing only `name`'s group; `issuers` default: Pebble. */
  const group = (name: string, domains: string[], issuers?: unknown[]) =>
    groupScenario(pebble, prosody, { name, domains, ca: trust, components, ...(issuers ? { issuers } : {}) });

  const serialOf = (file: string) => new crypto.X509Certificate(fs.readFileSync(file, 'utf8')).serialNumber;
  const unchanged = (rel: string) => expect(fs.readFileSync(certs(rel), 'utf8')).toBe(before.get(rel));

  /** Files of the lab's layout that belong to a group (by the names in their path). */
  const layoutOf = (name: string) => [...before.keys()].filter((rel) => rel.includes(name) || (name === 'dup.test' && rel.startsWith('dup-')));

  describe('the CA is down, a self-signed fallback is configured', () => {
    let down: unknown[];
    beforeAll(async () => {
      down = [acmeIssuer(pebble, {}, `https://127.0.0.1:${await freePort()}/dir`), { type: 'selfsigned' }];
    });

    // ssl.test and shared.test are refused before any order (below); the fallback is never reached either.
    const layouts = [...Object.entries(TAKEN_OVER), ['ssl.test', ['ssl.test']], ['shared.test', ['shared.test']]] as Array<[string, string[]]>;
    test.each(layouts)('%s: the valid CA certificate Prosody uses is never replaced by a self-signed one', async (name, domains) => {
      const served0 = await Promise.all(domains.map(served));
      const s = group(name, domains, down);
      const [outcome] = await withWorker(s.worker(), (w) => w.check());
      expect(outcome).toMatchObject({ result: 'failed', decision: { due: true, reason: 'threshold' } });
      const refused = name === 'ssl.test' || name === 'shared.test';
      expect(s.steps.join('\n')).toMatch(
        refused
          ? /failed \(config\): .*Nothing was ordered/
          : /keeping the certificate Prosody uses \(.*\): a valid certificate is never replaced by a self-signed one/,
      );
      for (const rel of layoutOf(name)) unchanged(rel);
      if (!['lineage.test', 'sslin.test'].includes(name)) expect(fs.existsSync(certs(name))).toBe(false);
      expect(await Promise.all(domains.map(served))).toEqual(served0);
    });

    test.each([
      ['expired.test', 'expired'],
      ['untrusted.test', 'threshold'],
      ['early.test', 'threshold'],
    ])('%s: a certificate that is not valid and trusted now does not count as better: the fallback replaces it (%s)', async (name, reason) => {
      const s = group(name, [name], down);
      // A not-yet-valid certificate is not due by itself (the policy judges its dates only): forced.
      const outcome = await withWorker(s.worker(), async (w) => (name === 'early.test' ? w.renewDomain(name, { force: true }) : (await w.check())[0]));
      expect(outcome).toMatchObject({ result: 'fallback', decision: { reason } });
      const live = new crypto.X509Certificate(fs.readFileSync(certs(name, 'fullchain.pem'), 'utf8'));
      expect([live.issuer, live.verify(live.publicKey)]).toEqual([live.subject, true]); // self-signed
      expect(await served(name)).toBe(live.serialNumber);
      for (const rel of layoutOf(name)) {
        expect(fs.existsSync(certs(rel))).toBe(false);
        expect(fs.readFileSync(certs('.xmpp-cert', name, '000001-superseded', rel), 'utf8')).toBe(before.get(rel));
      }
    });
  });

  describe('refused before anything is ordered', () => {
    test('an ssl table naming a file outside the certificate directory: the error names the config line; after the fix, the pair goes there', async () => {
      const s = group('ssl.test', ['ssl.test']);
      const old = await served('ssl.test');
      const [refused] = await withWorker(s.worker(), (w) => w.check());
      const line =
        fs
          .readFileSync(prosody.config, 'utf8')
          .split('\n')
          .findIndex((l) => l.includes('certificate = "outside/ssl.test.crt"')) + 1;
      expect(line).toBeGreaterThan(0);
      expect(refused).toMatchObject({ result: 'failed', error: { reason: 'config' } });
      const own = certs('ssl.test', 'fullchain.pem');
      expect(refused!.error!.message).toBe(
        `ssl.test: Prosody takes the certificate for ssl.test (c2s) from ssl of ssl.test at ${prosody.config}:${line} (${path.join(prosody.dir, 'outside', 'ssl.test.crt')}), ` +
          `not from the file the worker installs. Copy that pair to ${own} and ${certs('ssl.test', 'privkey.pem')}, then change it to certificate = "${own}" and key = "${certs('ssl.test', 'privkey.pem')}", ` +
          `or remove certificate and key from that table so Prosody finds the worker's pair by itself; reload Prosody and renew again. Nothing was ordered`,
      );
      expect(s.state().orders ?? {}).toEqual({});
      expect(s.group('ssl.test')).toMatchObject({ lastReason: 'config', failures: { config: 1 } });
      expect(await served('ssl.test')).toBe(old);

      // What the message says: copy the pair where the worker renews it, point the table there, reload.
      fs.mkdirSync(certs('ssl.test'));
      fs.copyFileSync(path.join(prosody.dir, 'outside', 'ssl.test.crt'), own);
      fs.copyFileSync(path.join(prosody.dir, 'outside', 'ssl.test.key'), certs('ssl.test', 'privkey.pem'));
      const text = fs
        .readFileSync(prosody.config, 'utf8')
        .replace('"outside/ssl.test.crt"', `"${own}"`)
        .replace('"outside/ssl.test.key"', `"${certs('ssl.test', 'privkey.pem')}"`);
      fs.writeFileSync(prosody.config, text);
      prosody.reload();
      const fixed = group('ssl.test', ['ssl.test']);
      const outcome = await withWorker(fixed.worker(), (w) => w.renewDomain('ssl.test', {}));
      expect(outcome).toMatchObject({ result: 'renewed', verify: { result: 'served' } });
      expect(await served('ssl.test')).toBe(serialOf(own));
    });

    test('a file that also serves a host outside the group is not moved: the error names the host', async () => {
      const s = group('shared.test', ['shared.test']);
      const refused = await withWorker(s.worker(), (w) => w.renewDomain('shared.test', { force: true }));
      expect(refused.error?.message).toBe(
        "shared.test: shared.crt also serves other.test (c2s), which is not in this group: moving it into the archive would change other.test's certificate. " +
          'Add other.test to this group (renewal.certificates) or give it a certificate of its own first, then renew again. Nothing was ordered',
      );
      unchanged('shared.crt');
      expect(fs.existsSync(certs('shared.test'))).toBe(false);
    });
  });

  describe('taken over from Pebble', () => {
    const renewed = new Map<string, string>();

    test.each(Object.entries(TAKEN_OVER))('%s: installed where Prosody finds it first, the old files kept in the archive', async (name, domains) => {
      const s = group(name, domains);
      if (name === 'classic.test') {
        const dry = await s.cli(['renew', name, '--dry-run']);
        expect(dry.out).toContain(
          `dry run: a renewal would install at ${certs(name)} and move what Prosody uses now into the archive: classic.test.crt, classic.test.key\n`,
        );
        expect(fs.readFileSync(certs('classic.test.crt'), 'utf8')).toBe(before.get('classic.test.crt'));
      }
      const [outcome] = await withWorker(s.worker(), (w) => w.check());
      const serial = serialOf(certs(name, 'fullchain.pem'));
      renewed.set(name, serial); // before any assertion: the restart test judges what is installed on its own
      expect(outcome).toMatchObject({ result: 'renewed', verify: { result: 'served' } });
      for (const d of domains) expect(await served(d)).toBe(serial);
      // The files Prosody used are gone from certs/ and kept, byte for byte, in the archive.
      const archive = certs('.xmpp-cert', name);
      for (const rel of layoutOf(name)) {
        if (rel.startsWith(`${name}/`)) {
          expect(fs.readFileSync(path.join(archive, '000001-kept', rel.slice(name.length + 1)), 'utf8')).toBe(before.get(rel)); // a real directory: migrated whole
          continue;
        }
        expect(fs.existsSync(certs(rel))).toBe(false);
        const kept = path.join(archive, '000001-superseded', rel);
        expect(fs.readFileSync(kept, 'utf8')).toBe(before.get(rel)); // certbot's live/ links resolve inside the backup
        expect(fs.lstatSync(kept).isSymbolicLink()).toBe(rel.startsWith('live/'));
      }
      if (name === 'opt.test') {
        expect(s.steps.join('\n')).toMatch(/note: Prosody no longer uses .*outside\/opt\.test\.crt \(outside the certificate directory, left in place\)/);
        expect(fs.existsSync(path.join(prosody.dir, 'outside', 'opt.test.crt'))).toBe(true);
      }
      // The next run finds the new certificate where Prosody does: not due.
      const [next] = await withWorker(s.worker(), (w) => w.check());
      expect(next).toMatchObject({ result: 'not_due' });
    });

    test.each([
      ['race.test', /race\.test\.crt has gone since the scan: scanning again/],
      ['fresh.test', /fresh\.test\/fullchain\.pem appeared since the scan: scanning again/],
    ])('two workers at once (%s): the second waits for the lock, sees what the first changed since its scan, and is not due', async (name, stale) => {
      const s = group(name, [name]);
      const outcomes = await Promise.all([s.worker(), s.worker()].map((w) => withWorker(w, (x) => x.check())));
      expect(outcomes.map(([o]) => o!.result).sort()).toEqual(['not_due', 'renewed']);
      expect(s.steps.join('\n')).toMatch(stale);
      expect(await served(name)).toBe(serialOf(certs(name, 'fullchain.pem')));
    });

    test('a wildcard that serves other names is left where it is, and keeps serving them', async () => {
      unchanged('star.crt');
      unchanged('star.key');
      expect(await served('other.wild2.test')).toBe(serialOf(certs('star.crt')));
    });

    test('10 restarts of Prosody: every host serves the new certificate every time; prosodyctl check certs agrees', async () => {
      const ours = [...Object.keys(TAKEN_OVER), 'ssl.test', 'race.test', 'fresh.test', ...WORSE];
      const expected = [
        ...Object.entries(TAKEN_OVER).flatMap(([name, domains]) => domains.map((d) => [d, renewed.get(name)] as const)),
        ...['ssl.test', 'race.test', 'fresh.test', ...WORSE].map((d) => [d, serialOf(certs(d, 'fullchain.pem'))] as const),
        ['other.wild2.test', serialOf(certs('star.crt'))] as const,
      ];
      expect(expected.every(([, serial]) => serial !== undefined)).toBe(true);
      for (let restart = 1; restart <= 10; restart++) {
        await prosody.restart();
        const got = await Promise.all(expected.map(async ([d]) => [d, await served(d)] as const));
        expect({ restart, got }).toEqual({ restart, got: expected });
      }
      const checked = prosodyctlCheckCerts(prosody.config);
      for (const name of ours) {
        for (const d of TAKEN_OVER[name] ?? [name]) expect([d, checked.get(d)?.certificate]).toEqual([d, certs(name, 'fullchain.pem')]);
      }
    });
  });
});

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return [p];
  });
}
