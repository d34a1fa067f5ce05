/**
 * The few file-system writes the worker makes durable (certificate generations, the state files,
 * the notification outbox), as one small `FsOps` object so a test can make any single step fail
 * (ENOSPC) and check that nothing half-written is left behind. `realOps` is the only
 * implementation outside tests; `writeFileDurably` is the one way a single file is replaced.
 * Reads (readdir, lstat, readlink) are not here: a failed read changes nothing on disk.
 * Does not decide layouts or names; renewal/install.ts and state.ts do.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Numeric ids for chown; an absent field is left unchanged. */
export interface FileOwner {
  uid?: number;
  gid?: number;
}

export interface FsOps {
  /**
   * Creates one directory (not its parents); fails with EEXIST when it is there. With `owner`, its
   * mode is then set exactly (the umask does not narrow it) and it is chowned.
   */
  mkdir(dir: string, mode: number, owner?: FileOwner): Promise<void>;
  /** Creates `file` (fails if it exists), sets owner and mode, writes `data`, fsyncs. */
  createFile(file: string, data: string, mode: number, owner?: FileOwner): Promise<void>;
  /** fsync on a directory: makes the names created or renamed in it durable. */
  syncDir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  symlink(target: string, link: string): Promise<void>;
  /** Removes a file, a symlink or a whole directory tree; a missing path is not an error. */
  remove(target: string): Promise<void>;
}

export const realOps: FsOps = {
  async mkdir(dir, mode, owner) {
    await fs.promises.mkdir(dir, { mode });
    if (!owner) return;
    if (owner.uid !== undefined || owner.gid !== undefined) await fs.promises.chown(dir, owner.uid ?? -1, owner.gid ?? -1);
    await fs.promises.chmod(dir, mode); // after chown, which may clear set-id bits; the umask may have narrowed it
  },
  createFile,
  syncDir,
  rename: (from, to) => fs.promises.rename(from, to),
  symlink: (target, link) => fs.promises.symlink(target, link),
  remove: (target) => fs.promises.rm(target, { recursive: true, force: true }),
};

async function createFile(file: string, data: string, mode: number, owner: FileOwner = {}): Promise<void> {
  // Created owner-only: the content is written only after owner and mode are final, so a key never
  // exists, even empty, with wider rights than configured.
  const handle = await fs.promises.open(file, 'wx', 0o600);
  try {
    if (owner.uid !== undefined || owner.gid !== undefined) await handle.chown(owner.uid ?? -1, owner.gid ?? -1);
    await handle.chmod(mode); // after chown: chown may clear set-id bits, and the umask may have narrowed the mode
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fs.promises.rm(file, { force: true }).catch(() => undefined);
    throw err;
  }
  await handle.close();
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // Some file systems (a few network and FUSE ones) cannot fsync a directory; the rename is
    // still atomic there, only its durability across a power cut is up to the file system.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
  } finally {
    await handle.close();
  }
}

/** mkdir that tolerates an existing directory; true when it was created (the parent then needs a syncDir). */
export async function ensureDir(ops: FsOps, dir: string, mode: number): Promise<boolean> {
  try {
    await ops.mkdir(dir, mode);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return false;
    throw err;
  }
}

/** A short random suffix for temp names: pid + 4 random bytes, so leftovers say who made them. */
export function tempSuffix(): string {
  return `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

/**
 * Replaces `file` so that a crash leaves the old content or the new, never a part: a temp file in
 * the same directory (created with `mode`, fsynced), renamed over `file`, the directory fsynced.
 * The directory is created (`dirMode`, its parent fsynced) when missing. On failure the temp file
 * is removed and the error rethrown. `temp` names the temp file when a reader must skip it.
 */
export async function writeFileDurably(ops: FsOps, file: string, text: string, options: { mode: number; dirMode: number; temp?: string }): Promise<void> {
  const dir = path.dirname(file);
  const temp = options.temp ?? `${file}.tmp-${tempSuffix()}`;
  try {
    await fs.promises.mkdir(path.dirname(dir), { recursive: true });
    if (await ensureDir(ops, dir, options.dirMode)) await ops.syncDir(path.dirname(dir));
    await ops.createFile(temp, text, options.mode);
    await ops.rename(temp, file);
    await ops.syncDir(dir);
  } catch (err) {
    await fs.promises.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}
