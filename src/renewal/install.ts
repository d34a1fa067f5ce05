/**
 * Installs a certificate and key in Prosody's layout, `certs/<name>/fullchain.pem` + `privkey.pem`,
 * so that a crash at any moment leaves the old pair or the new pair, never a mix, and keeps the
 * last `keep` previous pairs. Does not reload Prosody, take the lock (state/lock.ts) or decide when to
 * renew.
 *
 * How (paths in install-layout.ts): `certs/<name>` is a symlink to a generation directory
 * `certs/.xmpp-cert/<name>/<gen>/`. A new generation is built under a temp name (both files
 * written, chowned, chmodded and fsynced, then the directory fsynced), renamed to `<gen>` (so a
 * named generation is always complete), the archive directory fsynced; then a new symlink is
 * renamed over `certs/<name>`, one atomic rename(2), and the certs directory fsynced. Generations
 * are never modified once named; older ones beyond `keep` are removed afterwards. A failure before
 * the rename removes what was built; a failure of the fsync after it points the link back. A crash
 * leaves only temp names behind, which recoverInstall() removes.
 *
 * Migration: when certs/<name> is a real directory (an operator's pair, or an older version of
 * this program) there is no atomic directory-to-symlink swap (renameat2 RENAME_EXCHANGE is not
 * exposed by node), so the new generation and a temp symlink are made first, then two renames
 * back to back: the directory into the archive (it becomes the previous generation, kept intact),
 * the symlink into its place. Between those two renames certs/<name> is missing; a crash there is
 * repaired by recoverInstall(), which links the newest generation. A symlink we did not make (to
 * certbot's live directory, say) is replaced atomically; its pair is first copied in as a
 * generation, so it is kept as a backup.
 *
 * Takeover (`supersede`, install-supersede.ts): files Prosody used for the names before (another
 * layout) move into the archive right before the link goes in, and back if it does not.
 *
 * What a reader sees: Prosody (0.12, LuaSec) opens fullchain.pem and privkey.pem by path, in two
 * separate opens (certificate, then key, then OpenSSL checks they match). Each open resolves the
 * symlink again, so if our rename lands between them, that one load reads the old certificate
 * and the new key. No layout of two files can prevent that; what this one guarantees is that the
 * pair on disk is always consistent, so any later read is right. Prosody reads these files only at
 * startup, on reload and when a host is activated; the worker installs and then reloads, one
 * after the other, so its own reload never straddles its own swap. A straddle needs someone else's
 * reload to hit the microseconds between the two opens exactly when the swap happens; OpenSSL
 * then refuses the pair ("key values mismatch"), Prosody logs it and keeps no STARTTLS context for
 * that host until the next reload (direct-TLS ports keep the old context), and the worker's
 * served-certificate check sees it. A reader that resolves the link once (realpath) and opens
 * both files in that directory never sees a mix.
 */
import fs from 'node:fs';
import path from 'node:path';
import { IssueError, messageOf } from '../shared/errors';
import { realOps, tempSuffix, type FileOwner, type FsOps } from '../state/durable-fs';
import { resolveOwner } from './file-owner';
import {
  ARCHIVE_DIR,
  CERT_FILE,
  KEEP_FILES,
  KEPT_SUFFIX,
  KEY_FILE,
  checkTree,
  currentOf,
  generationName,
  generationNumber,
  isKept,
  layoutOf,
  readArchive,
  type Current,
  type Layout,
} from './install-layout';
import { finishAside, moveAside, moveBack, openJournal, supersededDir } from './install-supersede';
import { makeTempLink, recoverInstall, swapLink, type Recovery } from './install-swap';

export { activateGeneration, recoverInstall, type Recovery } from './install-swap';
export { listGenerations, type GenerationInfo } from './install-layout';

export interface PairPem {
  certificatePem: string;
  privateKeyPem: string;
}

/** renewal.install in the config; every field optional here. */
export interface InstallOptions {
  /** Default 0o600; 0o640 with `group` lets Prosody's group read the key. */
  keyMode?: number;
  /** User / group name or numeric id; chown is applied only when set. */
  owner?: string | number;
  group?: string | number;
  /** Previous generations kept beside the live one; default 3. */
  keep?: number;
  /**
   * A takeover (takeover.ts): paths relative to the certificate directory that Prosody would use
   * instead of, or beside, the new pair; moved into the archive's `<generation>-superseded/`.
   */
  supersede?: readonly string[];
}

export interface InstalledPair {
  /** certs/<name> (the symlink). */
  dir: string;
  certificate: string;
  key: string;
  /** The generation now live ("000004"). */
  generation: string;
  /** The generation live before, when there was a pair (a migrated directory counts). */
  previous?: string;
  /** Generations removed because they were beyond `keep`. */
  removed: string[];
  /** Housekeeping that failed after the install itself succeeded (the caller logs them). */
  warnings: string[];
  /** A takeover: where the superseded files now are, and which (relative to the certificate directory). */
  superseded?: { dir: string; entries: string[] };
}

interface Settings {
  keyMode: number;
  owner: FileOwner;
  /** Directories it creates: 0750 with a group (Prosody's), else 0755; set exactly, whatever the umask. */
  dirMode: number;
}

/** `ops` is for fault-injection tests only. */
export async function installPair(certsDir: string, name: string, pair: PairPem, options: InstallOptions = {}, ops: FsOps = realOps): Promise<InstalledPair> {
  const layout = layoutOf(certsDir, name);
  const owner = await resolveOwner(options, name);
  const settings: Settings = { keyMode: options.keyMode ?? 0o600, owner, dirMode: owner.gid !== undefined ? 0o750 : 0o755 };
  let recovery: Recovery;
  let done: Done;
  try {
    await makeCertsDir(certsDir);
    recovery = await recoverInstall(certsDir, name, ops);
    done = await install(layout, pair, settings, options.supersede ?? [], ops);
  } catch (err) {
    if (err instanceof IssueError) throw err;
    throw new IssueError(
      `cannot install the certificate for ${name} in ${certsDir}: ${messageOf(err)} (check that the directory is writable and has free space; the previous pair is still in place)`,
      name,
      { cause: err },
    );
  }
  const pruned = await prune(layout, done.generation, options.keep ?? 3, ops);
  const { warning, ...installed } = done;
  return {
    dir: layout.link,
    certificate: path.join(layout.link, CERT_FILE),
    key: path.join(layout.link, KEY_FILE),
    ...installed,
    removed: pruned.removed,
    warnings: [...recovery.warnings, ...(warning ? [warning] : []), ...pruned.warnings],
  };
}

interface Done {
  generation: string;
  previous?: string;
  superseded?: { dir: string; entries: string[] };
  warning?: string;
}

async function install(layout: Layout, pair: PairPem, settings: Settings, supersede: readonly string[], ops: FsOps): Promise<Done> {
  await ensureArchive(layout, settings, ops);
  const current = await currentOf(layout);
  if (current.kind === 'other' && current.detail === 'not a directory') {
    throw new IssueError(`${layout.link} is a file, not a directory: move it away so the certificate can be installed there`, layout.name);
  }
  const reserved = generationName(await nextNumber(layout, current));
  const created: string[] = []; // removed again if the install fails, unless one of them is live
  try {
    const previous = await previousOf(layout, current, reserved, settings, ops);
    if (current.kind === 'other' && previous !== undefined) created.push(previous);
    const taken = previous !== undefined && generationNumber(previous) === generationNumber(reserved);
    const generation = taken ? generationName(generationNumber(reserved) + 1) : reserved;
    created.push(generation); // before building: a failure after its rename leaves it named
    // A takeover (install-supersede.ts): its journal before the generation exists, the files Prosody used moved right before the link goes in.
    const journal = supersede.length > 0 ? await openJournal(layout, generation, supersede, settings, ops) : undefined;
    try {
      await buildGeneration(layout, generation, pair, settings, ops);
      if (journal) await moveAside(layout, journal, settings, ops);
      await commit(layout, generation, previous, current.kind === 'directory' ? previous : undefined, ops);
    } catch (err) {
      if (journal) await moveBack(layout, journal, ops).catch(() => undefined); // else recovery undoes it
      throw err;
    }
    const warning = journal ? await finishAside(layout, journal, ops) : undefined;
    const superseded = journal ? { superseded: { dir: supersededDir(layout, generation), entries: journal.moved } } : {};
    return { generation, ...(previous !== undefined ? { previous } : {}), ...superseded, ...(warning ? { warning } : {}) };
  } catch (err) {
    await removeUnlessLive(layout, created, ops);
    throw err;
  }
}

/** Cleanup after a failure: a rollback that failed too may have left one of them live. */
async function removeUnlessLive(layout: Layout, generations: string[], ops: FsOps): Promise<void> {
  const current = await currentOf(layout).catch(() => undefined);
  for (const generation of generations) {
    if (current?.kind === 'generation' && current.generation === generation) continue;
    await ops.remove(path.join(layout.archive, generation)).catch(() => undefined);
  }
}

/** The certificate directory, when the worker creates it: 0755 whatever the umask (Prosody must traverse it). */
async function makeCertsDir(certsDir: string): Promise<void> {
  const first = await fs.promises.mkdir(certsDir, { recursive: true, mode: 0o755 });
  if (first === undefined) return;
  for (let dir = certsDir; ; dir = path.dirname(dir)) {
    await fs.promises.chmod(dir, 0o755);
    if (dir === first || dir === path.dirname(dir)) break;
  }
}

/** certs/.xmpp-cert/<name>, each level fsynced into its parent when created; a link planted there is refused. */
async function ensureArchive(layout: Layout, settings: Settings, ops: FsOps): Promise<void> {
  const root = path.join(layout.certsDir, ARCHIVE_DIR);
  await checkTree(layout); // before each level is used: a real directory, never a link
  if (await ensureOwnDir(ops, root, settings)) await ops.syncDir(layout.certsDir);
  await checkTree(layout);
  if (await ensureOwnDir(ops, layout.archive, settings)) await ops.syncDir(root);
  await checkTree(layout);
}

/** mkdir with the install's mode and owner; true when created. An existing entry is checked by checkTree. */
async function ensureOwnDir(ops: FsOps, dir: string, settings: Settings): Promise<boolean> {
  try {
    await ops.mkdir(dir, settings.dirMode, settings.owner);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function nextNumber(layout: Layout, current: Current): Promise<number> {
  const { generations } = await readArchive(layout);
  const numbers = generations.map(generationNumber);
  if (current.kind === 'generation') numbers.push(generationNumber(current.generation));
  return Math.max(0, ...numbers) + 1;
}

/**
 * The generation that holds the pair in place now: ours as is; a real directory gets the name
 * `<reserved>-kept` (it is renamed there in commit, and never pruned: the worker did not create it);
 * a foreign link's pair is copied in under `reserved`.
 */
async function previousOf(layout: Layout, current: Current, reserved: string, settings: Settings, ops: FsOps): Promise<string | undefined> {
  if (current.kind === 'generation') return current.exists ? current.generation : undefined;
  if (current.kind === 'directory') return `${reserved}${KEPT_SUFFIX}`;
  if (current.kind === 'other') return (await copyForeignPair(layout, reserved, settings, ops)) ? reserved : undefined;
  return undefined;
}

/** A link we did not make: keep its pair as a generation; false when it holds no readable pair. */
async function copyForeignPair(layout: Layout, generation: string, settings: Settings, ops: FsOps): Promise<boolean> {
  const read = (file: string) => fs.promises.readFile(path.join(layout.link, file), 'utf8').catch(() => undefined);
  const [certificatePem, privateKeyPem] = await Promise.all([read(CERT_FILE), read(KEY_FILE)]);
  if (certificatePem === undefined || privateKeyPem === undefined) return false;
  await buildGeneration(layout, generation, { certificatePem, privateKeyPem }, settings, ops);
  return true;
}

/** Writes a complete generation under a temp name, then names it; a named generation is complete. */
async function buildGeneration(layout: Layout, generation: string, pair: PairPem, settings: Settings, ops: FsOps): Promise<void> {
  const temp = path.join(layout.archive, `${generation}.tmp-${tempSuffix()}`);
  const final = path.join(layout.archive, generation);
  await ops.mkdir(temp, settings.dirMode, settings.owner);
  try {
    await ops.createFile(path.join(temp, KEY_FILE), pair.privateKeyPem, settings.keyMode, settings.owner);
    await ops.createFile(path.join(temp, CERT_FILE), pair.certificatePem, 0o644, settings.owner);
    await ops.syncDir(temp);
    await ops.rename(temp, final);
  } catch (err) {
    await ops.remove(temp).catch(() => undefined);
    throw err;
  }
  await ops.syncDir(layout.archive); // the caller removes `final` if this fails
}

/**
 * Puts `generation` in place. `migrateTo`: certs/<name> is a real directory, renamed into the
 * archive under that generation right before the link is renamed in (the short window the header
 * describes). If the fsync after the swap fails, the link is pointed back at `previous`.
 */
async function commit(layout: Layout, generation: string, previous: string | undefined, migrateTo: string | undefined, ops: FsOps): Promise<void> {
  if (migrateTo === undefined) {
    try {
      await swapLink(layout, generation, ops);
    } catch (err) {
      await rollback(layout, previous, ops);
      throw err;
    }
    return;
  }
  await migrate(layout, generation, migrateTo, ops);
}

async function migrate(layout: Layout, generation: string, migrateTo: string, ops: FsOps): Promise<void> {
  const temp = await makeTempLink(layout, generation, ops);
  const aside = path.join(layout.archive, migrateTo);
  try {
    await ops.rename(layout.link, aside);
    try {
      await ops.rename(temp, layout.link);
    } catch (err) {
      await ops.rename(aside, layout.link).catch(() => undefined); // the directory goes back where it was
      throw err;
    }
  } catch (err) {
    await ops.remove(temp).catch(() => undefined);
    throw err;
  }
  try {
    await ops.syncDir(layout.archive);
    await ops.syncDir(layout.certsDir);
  } catch (err) {
    // The old pair now lives in the archive: point the link at it rather than move it back.
    await swapLink(layout, migrateTo, ops).catch(() => undefined);
    throw err;
  }
}

/** If certs/<name> points at the new generation but that is not durable, point it back (or remove it). */
async function rollback(layout: Layout, previous: string | undefined, ops: FsOps): Promise<void> {
  const current = await currentOf(layout).catch(() => undefined);
  if (current?.kind !== 'generation') return; // the swap never happened
  if (current.generation === previous) return;
  if (previous !== undefined) await swapLink(layout, previous, ops).catch(() => undefined);
  else await ops.remove(layout.link).catch(() => undefined);
}

/**
 * Removes generations beyond `keep`, oldest first, never the live one, and only directories the
 * worker created: a generation name, a real directory, holding nothing but fullchain.pem and
 * privkey.pem (one or none of them when a removal was cut short).
 * A migrated operator directory (`-kept`) and anything else are left alone. Failures become warnings.
 */
async function prune(layout: Layout, live: string, keep: number, ops: FsOps): Promise<{ removed: string[]; warnings: string[] }> {
  const result = { removed: [] as string[], warnings: [] as string[] };
  const { generations } = await readArchive(layout).catch(() => ({ generations: [] as string[] }));
  const older = generations.filter((g) => g !== live && !isKept(g));
  for (const generation of older.slice(0, Math.max(0, older.length - keep))) {
    const dir = path.join(layout.archive, generation);
    try {
      const names = await fs.promises.readdir(dir);
      // Nothing but our two files (fewer when a removal was cut short by a crash).
      if (names.some((n) => !KEEP_FILES.includes(n))) {
        result.warnings.push(`left ${dir} alone: it holds ${names.join(', ') || 'nothing'}, not a pair the worker wrote`);
        continue;
      }
      await ops.remove(dir);
      result.removed.push(generation);
    } catch (err) {
      result.warnings.push(`cannot remove the old generation ${dir}: ${messageOf(err)}`);
    }
  }
  return result;
}
