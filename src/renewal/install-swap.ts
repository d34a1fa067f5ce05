/**
 * Pointing certs/<name> at a generation, and repairing what an interrupted install left behind.
 * The swap is one rename(2) of a fresh symlink over the old one: atomic, so a reader resolving
 * certs/<name> sees the old generation or the new one. Building generations and the migration of
 * a real directory are in install.ts. Call these under the group's lock (state/lock.ts): recovery removes
 * every temp name of `name`, which would break an install running at the same time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { IssueError, messageOf } from '../shared/errors';
import { realOps, tempSuffix, type FsOps } from '../state/durable-fs';
import { checkTree, currentOf, layoutOf, linkTarget, linkTempPrefix, readArchive, type Layout } from './install-layout';
import { recoverSuperseded } from './install-supersede';

/** Makes the temp symlink that will be renamed over certs/<name>; returns its path. */
export async function makeTempLink(layout: Layout, generation: string, ops: FsOps): Promise<string> {
  const temp = path.join(layout.certsDir, linkTempPrefix(layout) + tempSuffix());
  await ops.symlink(linkTarget(layout, generation), temp);
  return temp;
}

/** Atomically points certs/<name> (missing or a symlink, never a real directory) at `generation`. */
export async function swapLink(layout: Layout, generation: string, ops: FsOps): Promise<void> {
  const temp = await makeTempLink(layout, generation, ops);
  try {
    await ops.rename(temp, layout.link);
  } catch (err) {
    await ops.remove(temp).catch(() => undefined);
    throw err;
  }
  await ops.syncDir(layout.certsDir);
}

/** Puts a kept generation back in place (a rollback after a bad renewal, say). */
export async function activateGeneration(certsDir: string, name: string, generation: string, ops: FsOps = realOps): Promise<void> {
  const layout = layoutOf(certsDir, name);
  const { generations } = await readArchive(layout);
  if (!generations.includes(generation)) throw new IssueError(`${name} has no kept generation "${generation}" in ${layout.archive}`, name);
  const current = await currentOf(layout);
  if (current.kind === 'directory')
    throw new IssueError(`${layout.link} is a real directory; install a pair first so it is moved into ${layout.archive}`, name);
  try {
    await swapLink(layout, generation, ops);
  } catch (err) {
    throw new IssueError(`cannot point ${layout.link} at generation ${generation}: ${messageOf(err)} (check that ${certsDir} is writable)`, name, {
      cause: err,
    });
  }
}

export interface Recovery {
  /** The generation certs/<name> points at afterwards, when it is one of ours. */
  live?: string;
  /** certs/<name> was missing or dangling and now points at the newest generation. */
  relinked: boolean;
  /** Leftover temp names removed. */
  removed: string[];
  /** Leftovers that could not be removed; they are retried next time. */
  warnings: string[];
  /** Takeovers a crash interrupted (install-supersede.ts): finished (their generation is live) or undone; only when there were any. */
  takeovers?: { finished: string[]; restored: string[] };
}

/**
 * Run at worker start and before each install. Removes leftover temp generations and temp links;
 * when certs/<name> is missing (a crash in the middle of migrating a real directory) or points at
 * a generation that is gone, links the newest generation. A real directory or a foreign link is
 * left alone: the next install moves it into the archive. A takeover a crash interrupted is
 * finished when its generation is live, undone when not (install-supersede.ts).
 */
export async function recoverInstall(certsDir: string, name: string, ops: FsOps = realOps): Promise<Recovery> {
  const layout = layoutOf(certsDir, name);
  await checkTree(layout); // a planted link is refused, never followed
  const recovery: Recovery = { relinked: false, removed: [], warnings: [] };
  try {
    await removeLeftovers(layout, recovery, ops);
    const [{ generations }, current] = await Promise.all([readArchive(layout), currentOf(layout)]);
    const newest = generations[generations.length - 1];
    const broken = current.kind === 'missing' || (current.kind === 'generation' && !current.exists);
    if (broken && newest !== undefined) await swapLink(layout, newest, ops);
    const live = broken ? newest : current.kind === 'generation' ? current.generation : undefined;
    const takeovers = await recoverSuperseded(layout, live, ops);
    recovery.warnings.push(...takeovers.warnings);
    const interrupted =
      takeovers.finished.length + takeovers.restored.length > 0 ? { takeovers: { finished: takeovers.finished, restored: takeovers.restored } } : {};
    return { ...recovery, ...(live !== undefined ? { live } : {}), relinked: broken && newest !== undefined, ...interrupted };
  } catch (err) {
    throw new IssueError(`cannot repair ${layout.link}: ${messageOf(err)} (check that ${certsDir} is writable)`, name, { cause: err });
  }
}

async function removeLeftovers(layout: Layout, recovery: Recovery, ops: FsOps): Promise<void> {
  const { temps } = await readArchive(layout);
  const prefix = linkTempPrefix(layout);
  const links = (await fs.promises.readdir(layout.certsDir).catch(() => [] as string[])).filter((n) => n.startsWith(prefix));
  const leftovers = [...temps.map((t) => path.join(layout.archive, t)), ...links.map((l) => path.join(layout.certsDir, l))];
  for (const leftover of leftovers) {
    try {
      await ops.remove(leftover);
      recovery.removed.push(leftover);
    } catch (err) {
      recovery.warnings.push(`cannot remove the leftover ${leftover}: ${messageOf(err)}`);
    }
  }
}
