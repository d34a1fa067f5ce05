/**
 * Cross-process locks (proper-lockfile: a lock directory created with mkdir, its mtime refreshed
 * while held) so two workers never renew the same group at once, and state-file updates never
 * interleave. Lock directories live in `<stateDir>/locks/`: `<group>.lock` per certificate group,
 * `.state.lock` for the state file. A lock whose holder was killed (SIGKILL: nothing ran to
 * release it) goes stale and is taken over. Does not decide what runs under a lock.
 *
 * Timings. Group lock: refreshed every 5 s, stale after 20 s without a refresh, and a waiter polls
 * at most every 2 s, so a killed worker's lock is taken over within ~22 s. A live holder keeps
 * refreshing as long as its event loop turns (installs, ACME and reloads are async I/O), so a long
 * install is not stolen; it would have to stall 20 s first. State lock: held for one read-write,
 * refreshed every 2.5 s, stale after 10 s, polled every 20-200 ms.
 * If a lock is compromised (its directory removed or taken over while held), the holder is not
 * crashed (proper-lockfile's default throws): it is logged and the signal given to `fn` aborts, so
 * long work can stop before it writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { XmppCertError, messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';

/** A lock could not be taken for a reason other than someone else holding it. */
export class LockError extends XmppCertError {
  constructor(
    message: string,
    readonly lockPath: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface LockTimings {
  staleMs: number;
  updateMs: number;
  /** Polling while waiting: from min, growing by half each time, up to max. */
  pollMinMs: number;
  pollMaxMs: number;
}

export const GROUP_LOCK: LockTimings = { staleMs: 20_000, updateMs: 5_000, pollMinMs: 100, pollMaxMs: 2_000 };
export const STATE_LOCK: LockTimings = { staleMs: 10_000, updateMs: 2_500, pollMinMs: 20, pollMaxMs: 200 };

export type LockResult<T> = { status: 'done'; value: T } | { status: 'busy' };

/** `fn` gets a signal that aborts if the lock is lost while held. */
export type Locked<T> = (signal: AbortSignal) => Promise<T>;

export const locksDir = (stateDir: string): string => path.join(stateDir, 'locks');

/**
 * Waits until the group is free (a stale lock is taken over), then runs `fn` holding it. `stop`
 * ends the wait (shutdown): a LockError saying so, and `fn` never runs.
 */
export async function withGroupLock<T>(
  stateDir: string,
  group: string,
  fn: Locked<T>,
  log?: Logger,
  timings: LockTimings = GROUP_LOCK,
  stop?: AbortSignal,
): Promise<T> {
  const result = await runLocked(groupLockPath(stateDir, group), fn, { wait: true, timings, log, stop });
  return (result as { status: 'done'; value: T }).value; // a waiting run is never busy
}

/** Runs `fn` holding the group's lock, or answers `busy` at once when another process holds it. */
export function tryGroupLock<T>(stateDir: string, group: string, fn: Locked<T>, log?: Logger, timings: LockTimings = GROUP_LOCK): Promise<LockResult<T>> {
  return runLocked(groupLockPath(stateDir, group), fn, { wait: false, timings, log });
}

/** The short lock around one read-modify-write of the state file. */
export async function withStateLock<T>(stateDir: string, fn: Locked<T>, log?: Logger): Promise<T> {
  const result = await runLocked(path.join(locksDir(stateDir), '.state.lock'), fn, { wait: true, timings: STATE_LOCK, log });
  return (result as { status: 'done'; value: T }).value;
}

function groupLockPath(stateDir: string, group: string): string {
  if (group === '' || group.startsWith('.') || /[/\\\0]/.test(group))
    throw new LockError(`"${group}" cannot name a lock (a group name must not contain "/" or start with ".")`, stateDir);
  return path.join(locksDir(stateDir), `${group}.lock`);
}

interface RunOptions {
  wait: boolean;
  timings: LockTimings;
  log: Logger | undefined;
  stop?: AbortSignal | undefined;
}

async function runLocked<T>(where: string, fn: Locked<T>, options: RunOptions): Promise<LockResult<T>> {
  const lockPath = path.resolve(where); // proper-lockfile keys its in-process table by this path
  const controller = new AbortController();
  const release = await acquire(lockPath, options, controller);
  if (!release) return { status: 'busy' };
  try {
    return { status: 'done', value: await fn(controller.signal) };
  } finally {
    await release().catch((err: unknown) => {
      // Already released after a compromise, or the directory vanished: nothing left to undo.
      options.log?.warn({ err, lock: lockPath }, `releasing the lock ${lockPath} failed: ${messageOf(err)}`);
    });
  }
}

/** The release function, or undefined when busy and not waiting. */
async function acquire(lockPath: string, options: RunOptions, controller: AbortController): Promise<(() => Promise<void>) | undefined> {
  const { timings, log } = options;
  await fs.promises.mkdir(path.dirname(lockPath), { recursive: true, mode: 0o750 }).catch((err: unknown) => {
    throw new LockError(`cannot create ${path.dirname(lockPath)}: ${messageOf(err)} (check that the state directory is writable)`, lockPath, { cause: err });
  });
  const onCompromised = (err: Error) => {
    log?.error({ err, lock: lockPath }, `the lock ${lockPath} was lost while held (${err.message}); the work under it is asked to stop`);
    controller.abort(err);
  };
  // The lock is keyed by the path of a file that need not exist; lockfilePath is the real lock.
  const lockOptions = { realpath: false, lockfilePath: lockPath, stale: timings.staleMs, update: timings.updateMs, retries: 0, onCompromised };
  for (let delay = timings.pollMinMs; ; delay = Math.min(timings.pollMaxMs, delay * 1.5)) {
    try {
      return await lockfile.lock(lockPath.replace(/\.lock$/, ''), lockOptions);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') {
        throw new LockError(`cannot take the lock ${lockPath}: ${messageOf(err)} (check that the state directory is writable)`, lockPath, { cause: err });
      }
      if (!options.wait) return undefined;
      if (options.stop?.aborted) throw new LockError(`stopped waiting for the lock ${lockPath}: shutting down`, lockPath);
    }
    await new Promise((resolve) => setTimeout(resolve, delay * (0.75 + Math.random() / 2)));
  }
}
