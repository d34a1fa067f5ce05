/**
 * Crash consistency of installPair with real processes: a child node process (the built
 * dist/renewal/install.js) installs pre-minted pairs, each with its own key, in a loop and is
 * SIGKILLed at random moments, many times. After every kill, and again after recoverInstall,
 * certs/<name>/fullchain.pem and privkey.pem must exist and the key must match the certificate.
 * A second process reads the pair the whole time: resolving the link once and reading both files
 * in that generation must never give a mix. (Reading the two paths separately, as Prosody does, can
 * straddle a swap; install.ts's header explains why that is tolerable; XCE_CRASH_STATS=1 prints how
 * often it happened.) Then the same for the one non-atomic step, migrating a real directory, and for
 * a takeover (files of another layout moved into the archive): after recovery, the new pair is live
 * and the old files are kept whole, or the old files are where they were and nothing is linked. No mocks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installPair, listGenerations, recoverInstall, type PairPem } from '../../src/renewal/install';
import { freshPairs, keyMatches, readLive } from '../helpers/pairs';

const DIST = path.resolve(__dirname, '../../dist/renewal/install.js');
const NAME = 'example.org';
const KILLS = 60;
const MIGRATION_KILLS = 30;

/** argv: certsDir name pairsFile once [supersede JSON]; prints "ready", then installs (once, or until killed). */
const INSTALLER = `
const fs = require('node:fs');
const { installPair } = require(${JSON.stringify(DIST)});
const [certs, name, pairsFile, once, supersede] = process.argv.slice(1);
const pairs = JSON.parse(fs.readFileSync(pairsFile, 'utf8'));
(async () => {
  process.stdout.write('ready\\n');
  for (let i = Math.floor(Math.random() * pairs.length); ; i++) {
    await installPair(certs, name, pairs[i % pairs.length], { keep: 3, supersede: supersede ? JSON.parse(supersede) : [] });
    if (once === 'once') return;
  }
})();
`;

/**
 * argv: linkDir pairsFile; reads until SIGTERM, then prints JSON counts. Each certificate's key is
 * known from the pairs file (the test checked each pair with crypto), so a read is compared by
 * content: fast enough to read thousands of times per second.
 */
const READER = `
const fs = require('node:fs');
const path = require('node:path');
const [dir, pairsFile] = process.argv.slice(1);
const keyOf = new Map(JSON.parse(fs.readFileSync(pairsFile, 'utf8')).map((p) => [p.certificatePem, p.privateKeyPem]));
const counts = { resolved: { ok: 0, mismatch: 0, gone: 0 }, twoOpens: { ok: 0, mismatch: 0, gone: 0 } };
function check(where, readDir) {
  try {
    const base = readDir();
    const cert = fs.readFileSync(path.join(base, 'fullchain.pem'), 'utf8');
    const key = fs.readFileSync(path.join(base, 'privkey.pem'), 'utf8');
    counts[where][keyOf.get(cert) === key ? 'ok' : 'mismatch']++;
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    counts[where].gone++; // a pruned generation, between resolving and reading
  }
}
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify(counts)); process.exit(0); });
(function loop() {
  for (let i = 0; i < 50; i++) {
    check('resolved', () => fs.realpathSync(dir));
    check('twoOpens', () => dir);
  }
  setImmediate(loop);
})();
`;

interface Proc {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<void>;
}

function run(script: string, args: string[]): Proc {
  const proc = spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return { proc, out: () => out, exited };
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let root: string;
let certs: string;
let pairs: PairPem[];
let pairsFile: string;

beforeAll(async () => {
  if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: run "npm run build" first (npm test does)`);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-crash-'));
  certs = path.join(root, 'certs');
  pairs = await freshPairs(8);
  for (const p of pairs) expect(keyMatches(p.certificatePem, p.privateKeyPem)).toBe(true);
  pairsFile = path.join(root, 'pairs.json');
  fs.writeFileSync(pairsFile, JSON.stringify(pairs));
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function expectConsistent(name: string): void {
  const live = readLive(certs, name);
  expect(keyMatches(live.certificatePem, live.privateKeyPem)).toBe(true);
  expect(pairs.some((p) => p.certificatePem === live.certificatePem && p.privateKeyPem === live.privateKeyPem)).toBe(true);
}

const leftovers = (name: string) => [
  ...(fs.existsSync(path.join(certs, '.xmpp-cert', name)) ? fs.readdirSync(path.join(certs, '.xmpp-cert', name)) : []).filter((n) => n.includes('.tmp-')),
  ...fs.readdirSync(certs).filter((n) => n.startsWith(`.${name}.link-tmp-`)),
];

test(`${KILLS} SIGKILLs during installs: always a matching pair, before and after recovery; a resolved reader never sees a mix`, async () => {
  await installPair(certs, NAME, pairs[0]!);
  const reader = run(READER, [path.join(certs, NAME), pairsFile]);
  let killedMidInstall = 0;
  for (let i = 0; i < KILLS; i++) {
    const installer = run(INSTALLER, [certs, NAME, pairsFile, 'loop']);
    await until('the installer to start', () => installer.out().includes('ready'));
    await sleep(Math.random() * 40);
    installer.proc.kill('SIGKILL');
    await installer.exited;
    expect(installer.out()).toBe('ready\n'); // no error from the installer before the kill
    expectConsistent(NAME); // no recovery needed for a consistent pair
    if (leftovers(NAME).length > 0) killedMidInstall++;
    await recoverInstall(certs, NAME);
    expectConsistent(NAME);
    expect(leftovers(NAME)).toEqual([]);
  }
  reader.proc.kill('SIGTERM');
  await reader.exited;
  const counts = JSON.parse(reader.out()) as Record<'resolved' | 'twoOpens', { ok: number; mismatch: number; gone: number }>;
  if (process.env.XCE_CRASH_STATS)
    process.stdout.write(`install-crash: ${killedMidInstall}/${KILLS} kills left temp names; reader ${JSON.stringify(counts)}\n`);
  expect(counts.resolved.mismatch).toBe(0);
  expect(counts.resolved.ok).toBeGreaterThan(1000);
  expect(killedMidInstall).toBeGreaterThan(0); // the kills did land inside installs

  // One clean install afterwards prunes what killed installs left.
  await installPair(certs, NAME, pairs[1]!, { keep: 3 });
  expect((await listGenerations(certs, NAME)).length).toBeLessThanOrEqual(4);
}, 60_000);

test(`${MIGRATION_KILLS} SIGKILLs while migrating a real directory: after recovery, always a matching pair`, async () => {
  const name = 'migrate.example.org';
  let windowHits = 0;
  let stillDirectory = 0;
  for (let i = 0; i < MIGRATION_KILLS; i++) {
    fs.rmSync(path.join(certs, name), { recursive: true, force: true });
    fs.rmSync(path.join(certs, '.xmpp-cert', name), { recursive: true, force: true });
    fs.mkdirSync(path.join(certs, name));
    fs.writeFileSync(path.join(certs, name, 'fullchain.pem'), pairs[2]!.certificatePem);
    fs.writeFileSync(path.join(certs, name, 'privkey.pem'), pairs[2]!.privateKeyPem, { mode: 0o600 });
    const installer = run(INSTALLER, [certs, name, pairsFile, 'once']);
    await until('the installer to start', () => installer.out().includes('ready'));
    await sleep(Math.random() * 15);
    installer.proc.kill('SIGKILL');
    await installer.exited;
    const after = fs.lstatSync(path.join(certs, name), { throwIfNoEntry: false });
    if (!after)
      windowHits++; // killed between the two renames
    else if (after.isDirectory()) stillDirectory++;
    await recoverInstall(certs, name);
    expectConsistent(name);
    expect(leftovers(name)).toEqual([]);
  }
  if (process.env.XCE_CRASH_STATS)
    process.stdout.write(
      `install-crash: migration: killed before the swap ${stillDirectory}, in the window ${windowHits}, after ${MIGRATION_KILLS - stillDirectory - windowHits}\n`,
    );
}, 60_000);

test(`${MIGRATION_KILLS} SIGKILLs during a takeover: after recovery, the new pair live and the old files kept whole, or the old files in place`, async () => {
  const name = 'takeover.example.org';
  const old = pairs[3]!;
  const entries = [`${name}.crt`, `${name}.key`, `live/${name}`, `archive/${name}`];
  const at = (...p: string[]) => path.join(certs, ...p);
  const stats = { before: 0, after: 0 };
  for (let i = 0; i < MIGRATION_KILLS; i++) {
    for (const p of [name, `.xmpp-cert/${name}`, ...entries]) fs.rmSync(at(p), { recursive: true, force: true });
    fs.writeFileSync(at(`${name}.crt`), old.certificatePem);
    fs.writeFileSync(at(`${name}.key`), old.privateKeyPem, { mode: 0o600 });
    fs.mkdirSync(at('archive', name), { recursive: true });
    fs.mkdirSync(at('live', name), { recursive: true });
    fs.writeFileSync(at('archive', name, 'fullchain1.pem'), old.certificatePem);
    fs.writeFileSync(at('archive', name, 'privkey1.pem'), old.privateKeyPem, { mode: 0o600 });
    fs.symlinkSync(`../../archive/${name}/fullchain1.pem`, at('live', name, 'fullchain.pem'));
    fs.symlinkSync(`../../archive/${name}/privkey1.pem`, at('live', name, 'privkey.pem'));
    const installer = run(INSTALLER, [certs, name, pairsFile, 'once', JSON.stringify(entries)]);
    await until('the installer to start', () => installer.out().includes('ready'));
    await sleep(Math.random() * 15);
    installer.proc.kill('SIGKILL');
    await installer.exited;
    await recoverInstall(certs, name);
    expect(leftovers(name)).toEqual([]);
    const archive = at('.xmpp-cert', name);
    const journals = fs.existsSync(archive) ? fs.readdirSync(archive).filter((n) => /-supersed(ing|ed)$/.test(n)) : [];
    expect(journals.filter((n) => n.endsWith('-superseding'))).toEqual([]);
    const linked = fs.lstatSync(at(name), { throwIfNoEntry: false }) !== undefined;
    // Never both (Prosody's choice ambiguous), never neither (no certificate): the old files move exactly when the link goes in.
    const base = linked ? path.join(archive, journals[0] ?? 'none') : certs;
    if (linked) {
      expectConsistent(name);
      expect(journals).toHaveLength(1);
      for (const e of entries) expect([e, fs.existsSync(at(e))]).toEqual([e, false]);
      stats.after++;
    } else stats.before++;
    expect(fs.readFileSync(path.join(base, `${name}.crt`), 'utf8')).toBe(old.certificatePem);
    expect(fs.readFileSync(path.join(base, `${name}.key`), 'utf8')).toBe(old.privateKeyPem);
    expect(fs.readFileSync(path.join(base, 'live', name, 'privkey.pem'), 'utf8')).toBe(old.privateKeyPem);
  }
  if (process.env.XCE_CRASH_STATS) process.stdout.write(`install-crash: takeover: killed before the link ${stats.before}, after ${stats.after}\n`);
}, 60_000);
