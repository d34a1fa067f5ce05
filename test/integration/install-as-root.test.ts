/**
 * Issue 13 "never worse", point 11: the worker as root writing into the certificate directory of a
 * real Prosody that runs as the Debian package's `prosody` user (the directory root:prosody 0750).
 * - Under umask 077, 027 and 022 (a `renew` process started with each), every directory and file the
 *   worker creates gets `install.group` and its mode exactly: Prosody's user can read the
 *   certificate and the key (`su prosody -c cat`, and Prosody itself serves the new pair), nobody
 *   else can read the key (`su nobody`).
 * - A symbolic link planted for the group's archive directory is refused with an error naming it;
 *   nothing is written where it points, and Prosody keeps serving the pair in place.
 * - Pruning removes only generations the worker wrote: an operator's migrated directory stays.
 * Needs root (chown, su); skipped otherwise, with the reason.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DAY, makeCA, mint } from '../helpers/certs';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { CLI, cleanEnv } from '../helpers/process';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { scenario, type Scenario } from '../helpers/renewal-setup';
import { describeWithTools } from '../helpers/tools';

const UMASKS = ['077', '027', '022'];
const HOSTS = [...UMASKS.map((u) => `u${u}.example.test`), 'kept.example.test'];
const asRoot = process.getuid?.() === 0;

const run = (describeName: string, body: () => void) => {
  if (asRoot) return describeWithTools(['prosody', 'pebble', 'pebble-challtestsrv', 'openssl', 'su', 'getent'], describeName, body);
  const reason = `${describeName}: skipped, the test needs root (chown to the prosody group, su)`;
  if (process.env.XMPP_CERT_REQUIRE_INTEGRATION === '1')
    return describe(describeName, () =>
      test('runs as root', () => {
        throw new Error(reason);
      }),
    );
  console.log(reason);
  describe.skip(describeName, body);
};

/** `su -s /bin/sh USER -c 'cat FILE'`: the exit code and what it printed. */
function catAs(user: string, file: string): { code: number | null; out: string } {
  const r = spawnSync('su', ['-s', '/bin/sh', user, '-c', `cat ${file}`], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

run('files as root: install.group and modes under any umask, no planted link followed (Prosody as prosody)', () => {
  jest.setTimeout(60_000);
  let pebble: RunningPebble;
  let prosody: RunningProsody;
  let gid: number;

  beforeAll(async () => {
    gid = Number(execFileSync('getent', ['group', 'prosody'], { encoding: 'utf8' }).split(':')[2]);
    const ca = await makeCA('Operator CA');
    const operator = await mint({ names: ['kept.example.test'], notBefore: -80 * DAY, notAfter: 10 * DAY, issuer: ca });
    [pebble, prosody] = await Promise.all([
      startPebble(),
      startProsody({
        hosts: HOSTS,
        user: 'prosody',
        writeCerts: (certs) => {
          // An operator's pair, as a real directory (Prosody's group may read the key).
          fs.mkdirSync(path.join(certs, 'kept.example.test'));
          fs.writeFileSync(path.join(certs, 'kept.example.test', 'fullchain.pem'), operator.pem + ca.pem);
          fs.writeFileSync(path.join(certs, 'kept.example.test', 'privkey.pem'), operator.keyPem, { mode: 0o640 });
          fs.chownSync(path.join(certs, 'kept.example.test', 'privkey.pem'), 0, gid);
          fs.writeFileSync(path.join(certs, 'kept.example.test', 'README'), 'issued by hand, 2024');
        },
      }),
    ]);
  });
  afterAll(() => Promise.all([prosody?.stop(), pebble?.stop()]));

  const groupScenario = (name: string, renewal: Record<string, unknown> = {}): Scenario =>
    scenario(pebble, prosody, [name], { install: { group: 'prosody', keyMode: '0640' }, ...renewal });

  /** `renew` started under `umask`, as a timer or a shell with that umask would start it. */
  function renewUnder(umask: string, s: Scenario, name: string, ...flags: string[]): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const args = [CLI, 'renew', name, ...flags, '--config', s.file].map((a) => `'${a}'`).join(' ');
      const child = spawn('sh', ['-c', `umask ${umask}; exec '${process.execPath}' ${args}`], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => resolve({ code, out }));
    });
  }

  test.each(UMASKS)('umask %s: every directory and file it creates has the prosody group and its mode; Prosody reads the key, nobody else', async (umask) => {
    const name = `u${umask}.example.test`;
    const s = groupScenario(name);
    const result = await renewUnder(umask, s, name);
    expect(result.code).toBe(0);
    const generation = fs.realpathSync(path.join(prosody.certs, name));
    // certs/.xmpp-cert itself is created by the first run (umask 077).
    const created = [path.join(prosody.certs, '.xmpp-cert'), path.join(prosody.certs, '.xmpp-cert', name), generation];
    for (const dir of created) expect({ dir, mode: fs.statSync(dir).mode & 0o7777, gid: fs.statSync(dir).gid }).toEqual({ dir, mode: 0o750, gid });
    const cert = path.join(prosody.certs, name, 'fullchain.pem');
    const key = path.join(prosody.certs, name, 'privkey.pem');
    expect([fs.statSync(cert).mode & 0o7777, fs.statSync(cert).gid]).toEqual([0o644, gid]);
    expect([fs.statSync(key).mode & 0o7777, fs.statSync(key).gid]).toEqual([0o640, gid]);
    expect(catAs('prosody', key)).toEqual({ code: 0, out: fs.readFileSync(key, 'utf8') });
    expect(catAs('prosody', cert).code).toBe(0);
    const nobody = catAs('nobody', key);
    expect(nobody.code).not.toBe(0);
    expect(nobody.out).toMatch(/Permission denied/);
    // Prosody, as the prosody user, loaded the pair: it serves the new certificate.
    expect(s.group(name).verify).toMatchObject({ result: 'served' });
    expect(await s.served(name)).toBe(s.onDisk(name));
  });

  test('a symbolic link planted for the group archive: refused and named, nothing written there, the pair in place still served', async () => {
    const name = 'u022.example.test';
    const s = groupScenario(name);
    const archive = path.join(prosody.certs, '.xmpp-cert', name);
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-outside-'));
    fs.renameSync(archive, path.join(outside, name));
    fs.symlinkSync(path.join(outside, name), archive); // certs/<name> still resolves, through the planted link
    const served = await s.served(name);
    const listing = fs.readdirSync(path.join(outside, name));
    const result = await s.cli(['renew', name, '--force']);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(
      new RegExp(
        `failed \\(install\\): .*\\.xmpp-cert/${name.replace(/\./g, '\\.')} is a symbolic link \\(to ${outside}/.*\\): the worker does not follow links it did not create`,
      ),
    );
    expect(fs.readdirSync(path.join(outside, name))).toEqual(listing);
    expect(await s.served(name)).toBe(served);
    expect(s.group(name)).toMatchObject({ lastReason: 'install' });
  });

  test("pruning removes only generations the worker wrote: the operator's migrated directory stays", async () => {
    const name = 'kept.example.test';
    const s = groupScenario(name, { install: { group: 'prosody', keyMode: '0640', keep: 0 } });
    for (let i = 0; i < 3; i++) expect((await s.cli(['renew', name, '--force'])).code).toBe(0);
    const archive = path.join(prosody.certs, '.xmpp-cert', name);
    expect(fs.readdirSync(archive).sort()).toEqual(['000001-kept', '000004']);
    expect(fs.readFileSync(path.join(archive, '000001-kept', 'README'), 'utf8')).toBe('issued by hand, 2024');
    expect(await s.served(name)).toBe(s.onDisk(name));
  });
});
