/**
 * Taking over a layout: the files Prosody used for a group before the worker's first install
 * (`certs/HOST.crt` + `.key`, `HOST.pem`, a certbot lineage's `live/HOST` and `archive/HOST`, a
 * second file carrying the same name) are moved into the worker's archive, so that Prosody finds
 * the new pair and only it. Which files: takeover.ts decides; this module only moves them, keeps
 * them (a backup, never pruned or deleted) and makes a crash harmless.
 *
 *   certs/.xmpp-cert/<name>/<generation>-superseding/  while moving: `.moved.json` (the plan) first,
 *                                                      then each entry at its path relative to certs/
 *   certs/.xmpp-cert/<name>/<generation>-superseded/   once <generation> is live: the backup
 *
 * Order (install.ts): the journal and its plan, then the new generation is built, then the entries
 * are moved (renames: a symbolic link is moved as a link, a certbot lineage directory whole, so its
 * relative links keep working inside the backup), then certs/<name> is pointed at the generation,
 * then the journal is named `-superseded`. A failure before the link is in place moves everything
 * back. After a crash (recoverInstall may link a named generation first, as after a migration),
 * recoverSuperseded() finishes a journal whose generation is live and undoes one whose generation
 * is not: either the old files are where they were, or the new pair is live and they are in the
 * backup. The window a crash can leave between the last move and the link (neither in place) is
 * the same kind as a migration's (install.ts) and is repaired the same way, at the worker's start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { IssueError, messageOf } from '../shared/errors';
import type { FileOwner, FsOps } from '../state/durable-fs';
import type { Layout } from './install-layout';

export const PLAN_FILE = '.moved.json';
const MOVING = '-superseding';
const MOVED = '-superseded';

export interface Journal {
  /** certs/.xmpp-cert/<name>/<generation>-superseding */
  dir: string;
  generation: string;
  /** Paths relative to the certificate directory, to move. */
  entries: string[];
  /** Those moved so far (an entry gone since the scan is skipped). */
  moved: string[];
}

interface DirSettings {
  dirMode: number;
  owner: FileOwner;
}

interface Plan {
  generation: string;
  certsDir: string;
  entries: string[];
}

/** The backup of a takeover once its generation is live. */
export const supersededDir = (layout: Layout, generation: string): string => path.join(layout.archive, `${generation}${MOVED}`);

/**
 * Opens the generation's journal, its plan written, before the generation itself is built: so a
 * named generation of a takeover always has its journal, and recovery, which may link a named
 * generation, always finishes its moves with it. On a failure nothing is left.
 */
export async function openJournal(layout: Layout, generation: string, entries: readonly string[], settings: DirSettings, ops: FsOps): Promise<Journal> {
  for (const entry of entries) checkEntry(layout, entry);
  const dir = path.join(layout.archive, `${generation}${MOVING}`);
  await ops.mkdir(dir, settings.dirMode, settings.owner);
  try {
    const plan: Plan = { generation, certsDir: layout.certsDir, entries: [...entries] };
    await ops.createFile(path.join(dir, PLAN_FILE), `${JSON.stringify(plan, null, 2)}\n`, 0o644, settings.owner);
    await ops.syncDir(layout.archive);
  } catch (err) {
    await ops.remove(dir).catch(() => undefined); // else recovery undoes an empty journal
    throw err;
  }
  return { dir, generation, entries: [...entries], moved: [] };
}

/**
 * Moves the journal's entries into it (right before the link goes in). On a failure the error is
 * thrown with what was moved in `journal.moved`: the caller moves them back (moveBack).
 */
export async function moveAside(layout: Layout, journal: Journal, settings: DirSettings, ops: FsOps): Promise<void> {
  try {
    for (const entry of journal.entries) {
      const from = path.join(layout.certsDir, entry);
      if (!exists(from)) continue; // gone since the scan: nothing to keep
      await makeParents(journal.dir, path.dirname(entry), settings, ops);
      await ops.rename(from, path.join(journal.dir, entry));
      journal.moved.push(entry);
    }
    await syncAll(layout, journal.dir, journal.moved, ops);
  } catch (err) {
    throw new IssueError(
      `cannot move the files Prosody used for ${layout.name} into ${journal.dir}: ${messageOf(err)} (the worker must be able to rename them within ${layout.certsDir}; they were left in place)`,
      layout.name,
      { cause: err },
    );
  }
}

/** After a failed commit: every moved entry back where it was, the journal removed. */
export async function moveBack(layout: Layout, journal: Journal, ops: FsOps): Promise<void> {
  for (const entry of [...journal.moved].reverse()) await ops.rename(path.join(journal.dir, entry), path.join(layout.certsDir, entry));
  await ops.remove(journal.dir);
  await syncAll(layout, undefined, journal.moved, ops);
}

/** After the commit: the journal becomes the backup. A failure is a warning (recovery finishes it). */
export async function finishAside(layout: Layout, journal: Journal, ops: FsOps): Promise<string | undefined> {
  try {
    await ops.rename(journal.dir, supersededDir(layout, journal.generation));
    await ops.syncDir(layout.archive);
    return undefined;
  } catch (err) {
    return `cannot rename ${journal.dir} to ${supersededDir(layout, journal.generation)}: ${messageOf(err)} (the next run finishes it)`;
  }
}

export interface SupersedeRecovery {
  /** Journals finished (their generation is live) and undone (it is not). */
  finished: string[];
  restored: string[];
  warnings: string[];
}

/**
 * After a crash: each `<generation>-superseding` journal is finished when `live` is its generation
 * (entries still in certs/ are moved too), else undone (entries moved back where nothing took
 * their place since). An entry that cannot go back stays in the journal, renamed `-superseded`.
 */
export async function recoverSuperseded(layout: Layout, live: string | undefined, ops: FsOps): Promise<SupersedeRecovery> {
  const result: SupersedeRecovery = { finished: [], restored: [], warnings: [] };
  const names = await fs.promises.readdir(layout.archive).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.endsWith(MOVING))) {
    const dir = path.join(layout.archive, name);
    const generation = name.slice(0, -MOVING.length);
    const plan = readPlan(dir);
    try {
      if (generation === live) {
        for (const entry of plan?.entries ?? []) {
          const from = path.join(layout.certsDir, entry);
          if (!exists(from) || exists(path.join(dir, entry))) continue;
          await makeParents(dir, path.dirname(entry), { dirMode: 0o755, owner: {} }, ops);
          await ops.rename(from, path.join(dir, entry));
        }
        await ops.rename(dir, supersededDir(layout, generation));
        result.finished.push(generation);
      } else {
        const left = await undo(layout, dir, plan, ops);
        if (left.length === 0) {
          await ops.remove(dir);
          result.restored.push(generation);
        } else {
          await ops.rename(dir, supersededDir(layout, generation));
          result.warnings.push(`kept ${left.join(', ')} in ${supersededDir(layout, generation)}: something else is at that path in ${layout.certsDir} now`);
        }
      }
      await ops.syncDir(layout.archive);
    } catch (err) {
      result.warnings.push(`cannot finish the takeover journal ${dir}: ${messageOf(err)}`);
    }
  }
  return result;
}

/** Moves a journal's entries back where their path is free; returns those that stay. */
async function undo(layout: Layout, dir: string, plan: Plan | undefined, ops: FsOps): Promise<string[]> {
  const left: string[] = [];
  for (const entry of [...(plan?.entries ?? [])].reverse()) {
    const kept = path.join(dir, entry);
    if (!exists(kept)) continue;
    const back = path.join(layout.certsDir, entry);
    if (exists(back)) {
      left.push(entry);
      continue;
    }
    await ops.rename(kept, back);
  }
  return left;
}

function readPlan(dir: string): Plan | undefined {
  try {
    const plan = JSON.parse(fs.readFileSync(path.join(dir, PLAN_FILE), 'utf8')) as Plan;
    return Array.isArray(plan.entries) && plan.entries.every((e) => typeof e === 'string' && isRelativeInside(e)) ? plan : undefined;
  } catch {
    return undefined; // crashed before the plan was written: nothing was moved
  }
}

/** An entry is a plain relative path inside the certificate directory, never the worker's own tree. */
function checkEntry(layout: Layout, entry: string): void {
  if (!isRelativeInside(entry) || entry.split('/')[0]!.startsWith('.') || entry === layout.name || entry.startsWith(`${layout.name}/`)) {
    throw new IssueError(`refusing to move "${entry}": not a path inside ${layout.certsDir} outside the worker's own files`, layout.name);
  }
}

const isRelativeInside = (entry: string) => entry !== '' && !path.isAbsolute(entry) && path.normalize(entry) === entry && !entry.split('/').includes('..');

const exists = (p: string) => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;

/** The directories between the journal and an entry's parent, made as the install makes its own. */
async function makeParents(journal: string, relativeDir: string, settings: DirSettings, ops: FsOps): Promise<void> {
  if (relativeDir === '.') return;
  let dir = journal;
  for (const part of relativeDir.split('/')) {
    dir = path.join(dir, part);
    if (!exists(dir)) await ops.mkdir(dir, settings.dirMode, settings.owner);
  }
}

/** fsync the directories names were removed from and added to. */
async function syncAll(layout: Layout, journal: string | undefined, entries: readonly string[], ops: FsOps): Promise<void> {
  const dirs = new Set<string>();
  for (const entry of entries) {
    dirs.add(path.dirname(path.join(layout.certsDir, entry)));
    if (journal) for (let d = path.dirname(path.join(journal, entry)); d.startsWith(journal); d = path.dirname(d)) dirs.add(d);
  }
  dirs.add(layout.archive);
  for (const dir of dirs) await ops.syncDir(dir);
}
