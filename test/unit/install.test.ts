/**
 * installPair / recoverInstall / listGenerations on real files in a temp directory. No mocks,
 * except in the "fault injection" block: there the file-system steps go through an FsOps wrapper
 * that makes exactly one step fail with ENOSPC (a file write leaves half its content first), to
 * check that every failure leaves the old pair live and nothing temporary behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findHostCert } from '../../src/discovery';
import { realOps, type FsOps } from '../../src/state/durable-fs';
import { activateGeneration, installPair, listGenerations, recoverInstall, type PairPem } from '../../src/renewal/install';
import { IssueError } from '../../src/shared/errors';
import { listCertificateDir } from '../../src/sources/files';
import { freshPairs, keyMatches, readLive } from '../helpers/pairs';

const NAME = 'example.org';
let pairs: PairPem[];
let root: string;
let certs: string;

beforeAll(async () => {
  pairs = await freshPairs(6);
});

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-install-'));
  certs = path.join(root, 'certs');
  fs.mkdirSync(certs);
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const pair = (i: number): PairPem => pairs[i]!;
const archive = () => path.join(certs, '.xmpp-cert', NAME);
const mode = (file: string) => fs.statSync(file).mode & 0o777;

/** Every temp name an install could leave: generations being built and links about to be renamed. */
function leftovers(): string[] {
  const inArchive = fs.existsSync(archive()) ? fs.readdirSync(archive()).filter((n) => n.includes('.tmp-')) : [];
  return [...inArchive, ...fs.readdirSync(certs).filter((n) => n.includes('.link-tmp-'))];
}

function expectLive(expected: PairPem): void {
  const live = readLive(certs, NAME);
  expect(live).toEqual(expected);
  expect(keyMatches(live.certificatePem, live.privateKeyPem)).toBe(true);
}

function writeRealDir(dir: string, p: PairPem): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'fullchain.pem'), p.certificatePem);
  fs.writeFileSync(path.join(dir, 'privkey.pem'), p.privateKeyPem, { mode: 0o600 });
}

describe('installPair', () => {
  test('a first install: Prosody layout through a relative symlink to generation 000001', async () => {
    const installed = await installPair(certs, NAME, pair(0));
    expect(installed).toEqual({
      dir: path.join(certs, NAME),
      certificate: path.join(certs, NAME, 'fullchain.pem'),
      key: path.join(certs, NAME, 'privkey.pem'),
      generation: '000001',
      removed: [],
      warnings: [],
    });
    expect(fs.readlinkSync(path.join(certs, NAME))).toBe('.xmpp-cert/example.org/000001');
    expectLive(pair(0));
    expect(mode(installed.key)).toBe(0o600);
    expect(mode(installed.certificate)).toBe(0o644);
    expect(leftovers()).toEqual([]);
  });

  test('each install is a new generation; the last 3 previous ones are kept, the 4th oldest removed', async () => {
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await installPair(certs, NAME, pair(i), { keep: 3 }));
    expect(results.map((r) => [r.generation, r.previous, r.removed])).toEqual([
      ['000001', undefined, []],
      ['000002', '000001', []],
      ['000003', '000002', []],
      ['000004', '000003', []],
      ['000005', '000004', ['000001']],
    ]);
    const generations = await listGenerations(certs, NAME);
    expect(generations.map((g) => [g.generation, g.live])).toEqual([
      ['000002', false],
      ['000003', false],
      ['000004', false],
      ['000005', true],
    ]);
    expectLive(pair(4));
    // The kept generations are the earlier pairs, untouched.
    for (const [i, g] of generations.entries()) {
      expect(fs.readFileSync(path.join(g.dir, 'privkey.pem'), 'utf8')).toBe(pair(i + 1).privateKeyPem);
    }
  });

  test('keep: 0 keeps only the live pair', async () => {
    await installPair(certs, NAME, pair(0), { keep: 0 });
    const second = await installPair(certs, NAME, pair(1), { keep: 0 });
    expect(second.removed).toEqual(['000001']);
    expect((await listGenerations(certs, NAME)).map((g) => g.generation)).toEqual(['000002']);
  });

  test('key mode 0640 with a group, and an owner, are applied by name or number', async () => {
    const installed = await installPair(certs, NAME, pair(0), { keyMode: 0o640, owner: 'nobody', group: 'nogroup' });
    const key = fs.statSync(installed.key);
    expect(key.mode & 0o777).toBe(0o640);
    expect([key.uid, key.gid]).toEqual([65534, 65534]);
    expect(fs.statSync(installed.certificate).uid).toBe(65534);
    const numeric = await installPair(certs, NAME, pair(1), { owner: '1234', group: 4321 });
    expect([fs.statSync(numeric.key).uid, fs.statSync(numeric.key).gid, mode(numeric.key)]).toEqual([1234, 4321, 0o600]);
  });

  test('an owner or group that does not exist is an IssueError naming the key; nothing is written', async () => {
    await expect(installPair(certs, NAME, pair(0), { owner: 'no-such-user-xce' })).rejects.toThrow(
      /renewal\.install\.owner: there is no user named "no-such-user-xce"/,
    );
    await expect(installPair(certs, NAME, pair(0), { group: 'no-such-group-xce' })).rejects.toThrow(IssueError);
    expect(fs.readdirSync(certs)).toEqual([]);
  });

  test('the symlink is relative: the volume still works mounted at another path', async () => {
    await installPair(certs, NAME, pair(0));
    const moved = path.join(root, 'elsewhere');
    fs.renameSync(certs, moved);
    certs = moved;
    expectLive(pair(0));
  });

  test('a real directory (an operator pair, or an older version) is moved in as the previous generation, kept for good', async () => {
    writeRealDir(path.join(certs, NAME), pair(0));
    fs.writeFileSync(path.join(certs, NAME, 'README'), 'operator notes');
    const installed = await installPair(certs, NAME, pair(1));
    expect([installed.generation, installed.previous]).toEqual(['000002', '000001-kept']);
    expect(fs.lstatSync(path.join(certs, NAME)).isSymbolicLink()).toBe(true);
    expectLive(pair(1));
    // Pruning removes only what the worker created: the operator's directory survives any number of installs.
    for (let i = 2; i < 7; i++) await installPair(certs, NAME, pair(i % 3), { keep: 1 });
    expect(fs.readdirSync(archive()).sort()).toEqual(['000001-kept', '000006', '000007']);
    const old = path.join(archive(), '000001-kept');
    expect(fs.readFileSync(path.join(old, 'privkey.pem'), 'utf8')).toBe(pair(0).privateKeyPem);
    expect(fs.readFileSync(path.join(old, 'README'), 'utf8')).toBe('operator notes');
    expect(leftovers()).toEqual([]);
  });

  test('a symlink we did not make is replaced atomically, its pair kept as a copy', async () => {
    const certbot = path.join(root, 'letsencrypt/live', NAME);
    writeRealDir(certbot, pair(0));
    fs.symlinkSync(certbot, path.join(certs, NAME));
    const installed = await installPair(certs, NAME, pair(1));
    expect([installed.generation, installed.previous]).toEqual(['000002', '000001']);
    expectLive(pair(1));
    expect(fs.readFileSync(path.join(archive(), '000001', 'fullchain.pem'), 'utf8')).toBe(pair(0).certificatePem);
    expect(fs.readFileSync(path.join(certbot, 'fullchain.pem'), 'utf8')).toBe(pair(0).certificatePem); // the target is not touched
  });

  test('a plain file in the way, or a name that is not a directory name, is an IssueError', async () => {
    fs.writeFileSync(path.join(certs, NAME), 'x');
    await expect(installPair(certs, NAME, pair(0))).rejects.toThrow(/is a file, not a directory: move it away/);
    await expect(installPair(certs, '../etc', pair(0))).rejects.toThrow(IssueError);
    await expect(installPair(certs, '.hidden', pair(0))).rejects.toThrow(/cannot be a certificate directory name/);
  });

  test('a symbolic link planted for the archive or its group directory is refused and never followed', async () => {
    const outside = path.join(root, 'outside');
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(certs, '.xmpp-cert'));
    await expect(installPair(certs, NAME, pair(0))).rejects.toThrow(/\.xmpp-cert is a symbolic link \(to .*outside\): the worker does not follow links/);
    await expect(recoverInstall(certs, NAME)).rejects.toThrow(/does not follow links it did not create/);
    fs.rmSync(path.join(certs, '.xmpp-cert'));
    fs.mkdirSync(path.join(certs, '.xmpp-cert'));
    fs.symlinkSync(outside, archive());
    await expect(installPair(certs, NAME, pair(0))).rejects.toThrow(/example\.org is a symbolic link/);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.existsSync(path.join(certs, NAME))).toBe(false);
  });

  test('in the archive, a planted link named like a generation is no generation; a directory it did not write is never pruned', async () => {
    const outside = path.join(root, 'outside');
    writeRealDir(outside, pair(2));
    await installPair(certs, NAME, pair(0));
    fs.symlinkSync(outside, path.join(archive(), '000007'));
    fs.mkdirSync(path.join(archive(), '000000'));
    fs.writeFileSync(path.join(archive(), '000000', 'notes'), 'not ours');
    const installed = await installPair(certs, NAME, pair(1), { keep: 0 });
    expect(installed.generation).toBe('000002'); // the link's name counts for nothing
    expect(installed.warnings).toEqual([expect.stringMatching(/left .*000000 alone: it holds notes, not a pair the worker wrote/)]);
    expect(fs.readdirSync(archive()).sort()).toEqual(['000000', '000002', '000007']);
    expect(fs.readFileSync(path.join(outside, 'privkey.pem'), 'utf8')).toBe(pair(2).privateKeyPem);
    expectLive(pair(1));
  });

  test('a certs directory that is not writable: an IssueError that says what to check', async () => {
    if (process.getuid?.() === 0) {
      // root ignores directory permissions; a file where the directory should be fails the same way
      const blocked = path.join(root, 'blocked');
      fs.writeFileSync(blocked, '');
      await expect(installPair(path.join(blocked, 'certs'), NAME, pair(0))).rejects.toThrow(
        /cannot install the certificate for example\.org in .*check that the directory is writable/,
      );
      return;
    }
    fs.chmodSync(certs, 0o500);
    await expect(installPair(certs, NAME, pair(0))).rejects.toThrow(/check that the directory is writable/);
  });

  test('activateGeneration puts a kept pair back (a rollback)', async () => {
    await installPair(certs, NAME, pair(0));
    await installPair(certs, NAME, pair(1));
    await activateGeneration(certs, NAME, '000001');
    expectLive(pair(0));
    await expect(activateGeneration(certs, NAME, '000009')).rejects.toThrow(/no kept generation "000009"/);
  });
});

describe('what Prosody and our scanner see', () => {
  test('certs/<name>/fullchain.pem through the link; nothing under the .xmpp-cert archive', async () => {
    for (let i = 0; i < 3; i++) await installPair(certs, NAME, pair(i));
    const listing = await listCertificateDir(certs);
    expect(listing.candidates).toEqual([path.join(certs, NAME, 'fullchain.pem')]);
    expect([...listing.existing].sort()).toEqual([path.join(certs, NAME, 'fullchain.pem'), path.join(certs, NAME, 'privkey.pem')]);
    const indexed = [{ file: path.join(certs, NAME, 'fullchain.pem'), names: [{ name: NAME, any: true }] }];
    expect(listing.indexable).toEqual([path.join(certs, NAME, 'fullchain.pem')]);
    const facts = { certsDir: certs, isFile: (p: string) => listing.existing.has(p), indexed };
    expect(findHostCert(NAME, facts)).toMatchObject({
      cert: path.join(certs, NAME, 'fullchain.pem'),
      key: path.join(certs, NAME, 'privkey.pem'),
      via: 'index',
    });
  });
});

describe('recoverInstall', () => {
  test('a missing certs/<name> (a crash while migrating) is linked to the newest generation; temp names removed', async () => {
    await installPair(certs, NAME, pair(0));
    await installPair(certs, NAME, pair(1));
    fs.unlinkSync(path.join(certs, NAME));
    fs.mkdirSync(path.join(archive(), '000003.tmp-1-deadbeef'));
    fs.writeFileSync(path.join(archive(), '000003.tmp-1-deadbeef', 'privkey.pem'), 'half');
    fs.symlinkSync('.xmpp-cert/example.org/000002', path.join(certs, `.${NAME}.link-tmp-1-deadbeef`));
    const recovery = await recoverInstall(certs, NAME);
    expect(recovery).toMatchObject({ live: '000002', relinked: true, warnings: [] });
    expect(recovery.removed).toHaveLength(2);
    expectLive(pair(1));
    expect(leftovers()).toEqual([]);
  });

  test('a link to a generation that is gone is pointed at the newest one', async () => {
    await installPair(certs, NAME, pair(0));
    await installPair(certs, NAME, pair(1));
    fs.rmSync(path.join(archive(), '000002'), { recursive: true });
    expect(await recoverInstall(certs, NAME)).toMatchObject({ live: '000001', relinked: true });
    expectLive(pair(0));
  });

  test('a healthy install, a real directory and an empty certs dir are left alone', async () => {
    expect(await recoverInstall(certs, NAME)).toEqual({ relinked: false, removed: [], warnings: [] });
    writeRealDir(path.join(certs, 'other.org'), pair(0));
    expect(await recoverInstall(certs, 'other.org')).toEqual({ relinked: false, removed: [], warnings: [] });
    await installPair(certs, NAME, pair(1));
    expect(await recoverInstall(certs, NAME)).toEqual({ live: '000001', relinked: false, removed: [], warnings: [] });
  });
});

describe('fault injection: ENOSPC at every step (an injected FsOps, the only stand-in in these tests)', () => {
  /** Counts steps; step `failAt` fails with ENOSPC. A file write first leaves half its content. */
  function injected(failAt: number): { ops: FsOps; steps: () => number } {
    let step = 0;
    const enospc = (what: string) => Object.assign(new Error(`ENOSPC: no space left on device, ${what}`), { code: 'ENOSPC' });
    const wrap =
      <K extends keyof FsOps>(name: K): FsOps[K] =>
      async (...args: unknown[]) => {
        if (++step === failAt) {
          if (name === 'createFile') fs.writeFileSync(args[0] as string, (args[1] as string).slice(0, 100));
          throw enospc(`${name} ${String(args[0])}`);
        }
        return (realOps[name] as (...a: unknown[]) => Promise<void>)(...args);
      };
    const ops: FsOps = {
      mkdir: wrap('mkdir'),
      createFile: wrap('createFile'),
      syncDir: wrap('syncDir'),
      rename: wrap('rename'),
      symlink: wrap('symlink'),
      remove: wrap('remove'),
    };
    return { ops, steps: () => step };
  }

  async function countSteps(setup: () => Promise<void>): Promise<number> {
    await setup();
    const counter = injected(0);
    await installPair(certs, NAME, pair(1), {}, counter.ops);
    fs.rmSync(certs, { recursive: true });
    fs.mkdirSync(certs);
    return counter.steps();
  }

  /** `kept`: the generations that may exist after a failure (only ever the old pair's). */
  async function failEachStep(setup: () => Promise<void>, kept: string[], old: PairPem | null = pair(0)): Promise<number> {
    const steps = await countSteps(setup);
    for (let failAt = 1; failAt <= steps; failAt++) {
      await setup();
      const { ops } = injected(failAt);
      await expect(installPair(certs, NAME, pair(1), {}, ops)).rejects.toThrow(/ENOSPC.*the previous pair is still in place/);
      if (old) expectLive(old);
      else expect(fs.existsSync(path.join(certs, NAME))).toBe(false);
      expect(leftovers()).toEqual([]);
      for (const g of await listGenerations(certs, NAME)) expect(kept).toContain(g.generation);
      fs.rmSync(certs, { recursive: true });
      fs.mkdirSync(certs);
    }
    return steps;
  }

  test('replacing an installed pair', async () => {
    const steps = await failEachStep(async () => {
      await installPair(certs, NAME, pair(0));
    }, ['000001']);
    expect(steps).toBeGreaterThanOrEqual(8); // mkdir, 2 files, 2 dir syncs, 2 renames, symlink, certs sync
  });

  test('a first install: nothing is left', async () => {
    const steps = await failEachStep(async () => undefined, [], null);
    expect(steps).toBeGreaterThanOrEqual(10);
  });

  test('migrating a real directory', async () => {
    const steps = await failEachStep(async () => {
      writeRealDir(path.join(certs, NAME), pair(0));
    }, ['000001-kept']); // the old directory, when the failure came after it was moved into the archive
    expect(steps).toBeGreaterThanOrEqual(10);
  });

  test('a takeover: every failure before the link is in place leaves the old files where they were; after it, recovery finishes the move', async () => {
    const setup = () => writeTakeoverLab(pair(0));
    await setup();
    const counter = injected(0);
    await installPair(certs, NAME, pair(1), { supersede: TAKEOVER }, counter.ops);
    const steps = counter.steps();
    expect(steps).toBeGreaterThanOrEqual(16); // the generation's, then the journal, its plan, a rename per entry, syncs, the link, the journal's name
    for (let failAt = 1; failAt <= steps; failAt++) {
      fs.rmSync(certs, { recursive: true });
      fs.mkdirSync(certs);
      await setup();
      const { ops } = injected(failAt);
      const done = await installPair(certs, NAME, pair(1), { supersede: TAKEOVER }, ops).then(
        () => true,
        (err: unknown) => {
          expect(String(err)).toMatch(/ENOSPC/);
          return false;
        },
      );
      if (!done) {
        expect([failAt, fs.existsSync(path.join(certs, NAME))]).toEqual([failAt, false]);
        expectTakeoverLab(pair(0), 'in place');
      }
      // After a failure or not, what recovery leaves: the old files in place and no link, or the new pair live and the old files kept.
      await recoverInstall(certs, NAME);
      if (done) {
        expectLive(pair(1));
        expectTakeoverLab(pair(0), 'kept');
      } else expectTakeoverLab(pair(0), 'in place');
      expect(fs.existsSync(archive()) ? fs.readdirSync(archive()).filter((n) => n.endsWith('-superseding')) : []).toEqual([]);
      expect(leftovers()).toEqual([]);
    }
  });
});

/** A classic pair and a certbot lineage (live/ links into archive/), as a takeover finds them. */
const TAKEOVER = [`${NAME}.crt`, `${NAME}.key`, `live/${NAME}`, `archive/${NAME}`];

async function writeTakeoverLab(p: PairPem): Promise<void> {
  fs.writeFileSync(path.join(certs, `${NAME}.crt`), p.certificatePem);
  fs.writeFileSync(path.join(certs, `${NAME}.key`), p.privateKeyPem, { mode: 0o600 });
  writeRealDir(path.join(certs, 'archive', NAME), p);
  fs.mkdirSync(path.join(certs, 'live', NAME), { recursive: true });
  for (const f of ['fullchain.pem', 'privkey.pem']) fs.symlinkSync(`../../archive/${NAME}/${f}`, path.join(certs, 'live', NAME, f));
  await Promise.resolve();
}

/** The lab's files, read through `base`: `in place` (certs/) or `kept` (the generation's -superseded backup). */
function expectTakeoverLab(p: PairPem, where: 'in place' | 'kept'): void {
  const superseded = fs.existsSync(archive()) ? fs.readdirSync(archive()).filter((n) => n.endsWith('-superseded')) : [];
  const base = where === 'in place' ? certs : path.join(archive(), superseded[0] ?? 'none');
  if (where === 'kept') expect(superseded).toHaveLength(1);
  else for (const entry of TAKEOVER) expect(superseded.some((d) => fs.existsSync(path.join(archive(), d, entry)))).toBe(false);
  expect(fs.readFileSync(path.join(base, `${NAME}.crt`), 'utf8')).toBe(p.certificatePem);
  expect(fs.readFileSync(path.join(base, `${NAME}.key`), 'utf8')).toBe(p.privateKeyPem);
  // The lineage's relative links still resolve inside wherever it is.
  expect(fs.lstatSync(path.join(base, 'live', NAME, 'fullchain.pem')).isSymbolicLink()).toBe(true);
  expect(fs.readFileSync(path.join(base, 'live', NAME, 'privkey.pem'), 'utf8')).toBe(p.privateKeyPem);
  if (where === 'kept') for (const entry of TAKEOVER) expect(fs.existsSync(path.join(certs, entry))).toBe(false);
}

describe('takeover (install-supersede.ts)', () => {
  test('the entries move into <generation>-superseded at their paths, with the plan beside them; the pair goes live', async () => {
    await writeTakeoverLab(pair(0));
    const installed = await installPair(certs, NAME, pair(1), { supersede: [...TAKEOVER, 'gone.crt'] });
    expect(installed.superseded).toEqual({ dir: path.join(archive(), '000001-superseded'), entries: TAKEOVER });
    expectLive(pair(1));
    expectTakeoverLab(pair(0), 'kept');
    const plan = JSON.parse(fs.readFileSync(path.join(archive(), '000001-superseded', '.moved.json'), 'utf8')) as { entries: string[] };
    expect(plan.entries).toEqual([...TAKEOVER, 'gone.crt']);
    // Never pruned: only generations the worker wrote are.
    for (let i = 2; i <= 5; i++) await installPair(certs, NAME, pair(i), { keep: 1 });
    expect(fs.existsSync(path.join(archive(), '000001-superseded', `${NAME}.crt`))).toBe(true);
  });

  test("entries outside the certificate directory, or in the worker's own tree, are refused before anything moves", async () => {
    await writeTakeoverLab(pair(0));
    for (const bad of ['../x.crt', '/etc/ssl/x.crt', `.xmpp-cert/${NAME}/000001`, `${NAME}/fullchain.pem`, NAME, 'a/../b'])
      await expect(installPair(certs, NAME, pair(1), { supersede: [bad] })).rejects.toThrow(/refusing to move/);
    expectTakeoverLab(pair(0), 'in place');
    expect(fs.existsSync(path.join(certs, NAME))).toBe(false);
  });

  test('recovery undoes a journal whose generation never went live, and finishes one whose generation is live', async () => {
    // A crash after the moves, before the link: the files go back.
    await writeTakeoverLab(pair(0));
    const journal = path.join(archive(), '000001-superseding');
    fs.mkdirSync(path.join(journal, 'live'), { recursive: true });
    fs.writeFileSync(path.join(journal, '.moved.json'), JSON.stringify({ generation: '000001', certsDir: certs, entries: TAKEOVER }));
    fs.renameSync(path.join(certs, `${NAME}.crt`), path.join(journal, `${NAME}.crt`));
    fs.renameSync(path.join(certs, 'live', NAME), path.join(journal, 'live', NAME));
    expect(await recoverInstall(certs, NAME)).toMatchObject({ takeovers: { finished: [], restored: ['000001'] } });
    expectTakeoverLab(pair(0), 'in place');
    expect(fs.existsSync(journal)).toBe(false);

    // A crash after the link, before the journal got its name: the rest moves and it is named.
    const installed = await installPair(certs, NAME, pair(1), { supersede: TAKEOVER });
    fs.renameSync(installed.superseded!.dir, path.join(archive(), `${installed.generation}-superseding`));
    fs.renameSync(path.join(archive(), `${installed.generation}-superseding`, `${NAME}.key`), path.join(certs, `${NAME}.key`));
    expect(await recoverInstall(certs, NAME)).toMatchObject({ takeovers: { finished: [installed.generation], restored: [] } });
    expectLive(pair(1));
    expectTakeoverLab(pair(0), 'kept');
  });
});
