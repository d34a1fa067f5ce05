/**
 * Reads and writes the worker's state file, `<stateDir>/state.json` (shape: state-types.ts).
 * Writes are atomic (temp file, fsync, rename, directory fsync; mode 0640, the directory 0750).
 * The worker's read never throws for a bad file and never writes: a corrupt one (bad JSON, another
 * version, a wrong shape) reads as empty. The first update under the state lock keeps its text as
 * `state.json.corrupt-<time>` and replaces it, with a warning for the log: once, however many
 * groups found it corrupt. Only an unreadable directory throws (StateError). The exporter's
 * readStateForScrape() never writes or moves anything and re-parses only when the file changed.
 * Does not decide what goes into the state (renewal/renew.ts and processes/worker.ts do).
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { XmppCertError, messageOf } from '../shared/errors';
import { cachedFileReader } from './scrape-file';
import type { Logger } from '../shared/log';
import { realOps, writeFileDurably, type FsOps } from './durable-fs';
import { FAILURE_REASONS, type FailureReason } from './failure-reasons';
import { withStateLock } from './lock';
import { HEARTBEAT_MODES, HOLD_REASONS, STATE_VERSION, emptyState, type WorkerState } from './state-types';

export const STATE_FILE = 'state.json';

/** The state directory or file cannot be read or written (not: the file's content is bad). */
export class StateError extends XmppCertError {
  constructor(
    message: string,
    readonly dir: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface StateRead {
  state: WorkerState;
  /** readState: the file is corrupt (its text and why); `state` is then empty. */
  corrupt?: { text: string; error: string };
  /** updateState: a corrupt file was kept aside and replaced; say so in the log. */
  warning?: string;
}

const seconds = z.number().finite().nonnegative();
const count = z.number().int().nonnegative();
const known = new Set<string>(FAILURE_REASONS);

/** Unknown reasons (from a newer version) are dropped rather than making the whole file corrupt. */
const failures = z.record(z.string(), count).transform((all) => {
  const kept: Partial<Record<FailureReason, number>> = {};
  for (const [reason, n] of Object.entries(all)) if (known.has(reason)) kept[reason as FailureReason] = n;
  return kept;
});

const groupSchema = z.object({
  domains: z.array(z.string()),
  issuer: z.string().optional(),
  fallback: z.boolean(),
  successes: count,
  failures,
  consecutiveFailures: count,
  lastAttempt: seconds.optional(),
  lastSuccess: seconds.optional(),
  lastFailure: seconds.optional(),
  lastReason: z.enum(FAILURE_REASONS).optional().catch(undefined),
  lastError: z.string().optional(),
  lastFailureDomain: z.string().optional(),
  lastFailureChallenge: z.string().optional(),
  nextAttempt: seconds.optional(),
  serial: z.string().optional(),
  notAfter: z.number().finite().optional(),
  lastIssued: seconds.optional(),
  issuedDomains: z.array(z.string()).optional(),
  staging: z.boolean().optional(),
  verify: z.object({ result: z.enum(['served', 'mismatch', 'unreachable', 'skipped']), at: seconds, detail: z.string().optional() }).optional(),
  reloadPending: z.object({ since: seconds, attempts: count, nextAttempt: seconds, error: z.string() }).optional(),
  // A reason from a newer version is dropped, not the whole file.
  heldBack: z
    .object({ reason: z.enum(HOLD_REASONS), until: seconds })
    .optional()
    .catch(undefined),
});

const stateSchema = z.object({
  version: z.literal(STATE_VERSION),
  heartbeat: seconds.optional(),
  heartbeatMode: z.enum(HEARTBEAT_MODES).optional().catch(undefined),
  heartbeatInterval: z.number().finite().positive().optional().catch(undefined),
  groups: z.record(z.string(), groupSchema),
  orders: z.record(z.string(), z.array(seconds)).optional(),
});

/** The parsed state, or why the text is not one. */
export function parseState(text: string): { state: WorkerState } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON: ${messageOf(err)}` };
  }
  const result = stateSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { error: `${issue?.path.join('.') || '(top)'}: ${issue?.message ?? 'invalid'}` };
  }
  return { state: result.data };
}

export const stateFile = (stateDir: string): string => path.join(stateDir, STATE_FILE);

/**
 * The worker's read for decisions: missing -> empty; corrupt -> empty, with `corrupt` saying why.
 * It never moves or writes anything: only updateState() does, under the state lock, so a corrupt
 * file is set aside exactly once however many groups read it at the same time.
 */
export async function readState(stateDir: string): Promise<StateRead> {
  const file = stateFile(stateDir);
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: emptyState() };
    if (code !== 'EISDIR')
      throw new StateError(`cannot read ${file}: ${messageOf(err)} (check that ${stateDir} is readable by the worker's user)`, stateDir, { cause: err });
    text = '';
  }
  const parsed = parseState(text);
  return 'state' in parsed ? parsed : { state: emptyState(), corrupt: { text, error: parsed.error } };
}

/**
 * Keeps a corrupt file's text as `state.json.corrupt-<time>` (a new file: state.json itself is then
 * replaced by one atomic rename, so it is never missing for a reader in between).
 */
async function keepAside(file: string, text: string): Promise<string> {
  const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    await writeFileDurably(realOps, aside, text, { mode: 0o640, dirMode: 0o750 });
  } catch (err) {
    throw new StateError(
      `cannot keep the corrupt state file ${file} as ${aside}: ${messageOf(err)} (check that ${path.dirname(file)} is writable)`,
      path.dirname(file),
      { cause: err },
    );
  }
  return aside;
}

/** Atomic write; creates stateDir (0750) when missing. `ops` is for fault-injection tests. */
export async function writeState(stateDir: string, state: WorkerState, ops: FsOps = realOps): Promise<void> {
  const file = stateFile(stateDir);
  try {
    await writeFileDurably(ops, file, JSON.stringify(state, null, 2) + '\n', { mode: 0o640, dirMode: 0o750 });
  } catch (err) {
    throw new StateError(`cannot write ${file}: ${messageOf(err)} (check that ${stateDir} is writable and has free space)`, stateDir, { cause: err });
  }
}

/**
 * Read, change, write, under the state-file lock so two processes never lose each other's
 * updates. `change` edits the state in place (or returns a new one). A warning (corrupt file moved
 * aside) goes to `log` when given, and is returned either way.
 */
export async function updateState(stateDir: string, change: (state: WorkerState) => WorkerState | void, log?: Logger): Promise<StateRead> {
  return withStateLock(stateDir, async () => {
    const read = await readState(stateDir);
    let warning: string | undefined;
    if (read.corrupt) {
      const file = stateFile(stateDir);
      const aside = await keepAside(file, read.corrupt.text);
      warning = `the state file ${file} is corrupt (${read.corrupt.error}); kept it as ${aside} and started from an empty state`;
      log?.warn({ stateDir }, warning);
    }
    const state = change(read.state) ?? read.state;
    await writeState(stateDir, state);
    return warning === undefined ? { state } : { state, warning };
  });
}

export interface ScrapeState {
  state: WorkerState;
  status: 'ok' | 'missing' | 'corrupt' | 'unreadable';
  /** Why the file was not used; absent when ok or missing (no worker has written it yet). */
  error?: string;
}

const readCached = cachedFileReader<ScrapeState>({
  parse(text, file) {
    const parsed = parseState(text);
    return 'state' in parsed ? { state: parsed.state, status: 'ok' } : { state: emptyState(), status: 'corrupt', error: `${file} is corrupt: ${parsed.error}` };
  },
  missing: () => ({ state: emptyState(), status: 'missing' }),
  unreadable: (error) => ({ state: emptyState(), status: 'unreadable', error }),
});

/** The exporter's read at scrape time (see scrape-file.ts). Never moves or writes anything; never throws. */
export function readStateForScrape(stateDir: string): ScrapeState {
  return readCached(stateFile(stateDir));
}
