/**
 * Issue 13, point 2, for explicit options, on a real Prosody and a real Pebble: a global `ssl`
 * table naming a file outside the certificate directory (every host's STARTTLS certificate), and
 * a host's `ssl` table in an Included file. The worker orders nothing and names the file and line
 * to change; with the CA down the valid certificate stays. Once the operator does what the message
 * says (the pair copied to the worker's path, the line pointing there), the worker installs there,
 * and over 10 restarts Prosody serves the new certificate for every host; `prosodyctl check certs`
 * agrees and the next run is not due.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { prosodyctlCheckCerts } from '../helpers/agreement';
import { DAY, makeCA, mint } from '../helpers/certs';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { freePort, startProsody, type RunningProsody } from '../helpers/prosody-server';
import { acmeIssuer, groupScenario, servedSerial, withWorker } from '../helpers/renewal-setup';
import { describeWithTools } from '../helpers/tools';

const NAMES = ['one.test', 'two.test'];

describeWithTools(['prosody', 'prosodyctl', 'pebble', 'pebble-challtestsrv', 'openssl'], 'taking over: explicit ssl options', () => {
  jest.setTimeout(60_000);
  let pebble: RunningPebble;
  let prosody: RunningProsody;
  let trust: string[];
  const outside = (...p: string[]) => path.join(prosody.dir, 'outside', ...p);

  beforeAll(async () => {
    const ca = await makeCA('Operator CA');
    pebble = await startPebble();
    prosody = await startProsody({
      hosts: NAMES,
      global: ['ssl = {', '  certificate = "outside/all.crt";', '  key = "outside/all.key";', '}', 'Include "conf.d/*.cfg.lua"'],
      writeCerts: async (_certs, dir) => {
        const write = async (names: string[], base: string) => {
          const c = await mint({ names, notBefore: -80 * DAY, notAfter: 10 * DAY, issuer: ca, freshKey: true });
          fs.mkdirSync(path.join(dir, 'outside'), { recursive: true });
          fs.writeFileSync(path.join(dir, 'outside', `${base}.crt`), c.pem + ca.pem);
          fs.writeFileSync(path.join(dir, 'outside', `${base}.key`), c.keyPem, { mode: 0o600 });
        };
        await write(NAMES, 'all');
        await write(['inc.test'], 'inc');
        fs.mkdirSync(path.join(dir, 'conf.d'));
        fs.writeFileSync(
          path.join(dir, 'conf.d', 'inc.cfg.lua'),
          'VirtualHost "inc.test"\n  ssl = { certificate = "outside/inc.crt", key = "outside/inc.key" }\n',
        );
        fs.writeFileSync(path.join(dir, 'operator-ca.pem'), ca.pem);
      },
    });
    fs.writeFileSync(path.join(prosody.dir, 'pebble-root.pem'), await pebble.roots(0));
    trust = [path.join(prosody.dir, 'operator-ca.pem'), path.join(prosody.dir, 'pebble-root.pem')];
  }, 60_000);

  afterAll(() => Promise.all([prosody?.stop(), pebble?.stop()]));

  const served = (domain: string) => servedSerial(prosody, domain);
  const group = (name: string, domains: string[], issuers?: unknown[]) =>
    groupScenario(pebble, prosody, { name, domains, ca: trust, ...(issuers ? { issuers } : {}) });

  const serialOf = (file: string) => new crypto.X509Certificate(fs.readFileSync(file, 'utf8')).serialNumber;
  const lineOf = (file: string, text: string) =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .findIndex((l) => l.includes(text)) + 1;
  const own = (name: string) => [path.join(prosody.certs, name, 'fullchain.pem'), path.join(prosody.certs, name, 'privkey.pem')] as const;

  test('CA down, self-signed fallback configured: refused before ordering, the global ssl certificate stays', async () => {
    const before = await served('one.test');
    const s = group('one.test', NAMES, [acmeIssuer(pebble, {}, `https://127.0.0.1:${await freePort()}/dir`), { type: 'selfsigned' }]);
    const [outcome] = await withWorker(s.worker(), (w) => w.check());
    expect(outcome).toMatchObject({ result: 'failed', error: { reason: 'config' } });
    expect(fs.existsSync(path.join(prosody.certs, 'one.test'))).toBe(false);
    expect(await served('one.test')).toBe(before);
    expect(await served('two.test')).toBe(before);
  });

  test('a global ssl table: the message names prosody.cfg.lua and the line of certificate', async () => {
    const s = group('one.test', NAMES);
    const outcome = await withWorker(s.worker(), (w) => w.renewDomain('one.test', {}));
    const [cert, key] = own('one.test');
    expect(outcome.error?.message).toBe(
      `one.test: Prosody takes the certificate for one.test (c2s) from ssl (global) at ${prosody.config}:${lineOf(prosody.config, 'outside/all.crt')} (${outside('all.crt')}), ` +
        `not from the file the worker installs. Copy that pair to ${cert} and ${key}, then change it to certificate = "${cert}" and key = "${key}", ` +
        `or remove certificate and key from that table so Prosody finds the worker's pair by itself; reload Prosody and renew again. Nothing was ordered`,
    );
    expect(s.state().orders ?? {}).toEqual({});
    // A dry run stops where the renewal would, and says why.
    const dry = await s.cli(['renew', 'one.test', '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.out).toContain(
      `one.test: dry run: a renewal would stop before ordering: one.test: Prosody takes the certificate for one.test (c2s) from ssl (global) at ${prosody.config}:`,
    );
    expect(dry.out).toMatch(/Nothing would be ordered\n/);
  });

  test('a host ssl table in an Included file: the message names that file and line', async () => {
    const s = group('inc.test', ['inc.test']);
    const outcome = await withWorker(s.worker(), (w) => w.renewDomain('inc.test', {}));
    const included = path.join(prosody.dir, 'conf.d', 'inc.cfg.lua');
    expect(outcome.error?.message).toMatch(`from ssl of inc.test at ${included}:2 (${outside('inc.crt')})`);
  });

  test('after the fix the worker installs where the table points; 10 restarts serve it for every host; check certs agrees; not due after', async () => {
    const [cert, key] = own('one.test');
    fs.mkdirSync(path.dirname(cert));
    fs.copyFileSync(outside('all.crt'), cert);
    fs.copyFileSync(outside('all.key'), key);
    fs.writeFileSync(
      prosody.config,
      fs.readFileSync(prosody.config, 'utf8').replace('"outside/all.crt"', `"${cert}"`).replace('"outside/all.key"', `"${key}"`),
    );
    prosody.reload();
    const s = group('one.test', NAMES);
    const outcome = await withWorker(s.worker(), (w) => w.renewDomain('one.test', {}));
    expect(outcome).toMatchObject({ result: 'renewed', verify: { result: 'served' } });
    const serial = serialOf(cert);
    for (let restart = 1; restart <= 10; restart++) {
      await prosody.restart();
      expect({ restart, got: await Promise.all(NAMES.map(served)) }).toEqual({ restart, got: [serial, serial] });
    }
    const checked = prosodyctlCheckCerts(prosody.config);
    for (const name of NAMES) expect([name, checked.get(name)?.certificate]).toEqual([name, cert]);
    const [next] = await withWorker(s.worker(), (w) => w.check());
    expect(next).toMatchObject({ result: 'not_due' });
  });
});
