/**
 * `<stateDir>/notify.json`: the worker's notification counters per channel (sent, failed by
 * reason, dropped, queued in the outbox) and, for dedupe, the last event sent per domain. The
 * worker changes it with one locked read-modify-write (the state file's lock: both are short) and
 * an atomic write; the exporter reads it at scrape time, re-parsing only when the file changed,
 * and never writes it. A corrupt file is replaced by an empty one with a warning (counters restart
 * at 0, which Prometheus reads as a counter reset). Channel labels only: no address, URL or secret.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { messageOf } from '../shared/errors';
import { cachedFileReader } from './scrape-file';
import type { Logger } from '../shared/log';
import { realOps, writeFileDurably } from './durable-fs';
import { withStateLock } from './lock';
import { NOTIFY_FAILURE_REASONS, type NotifyFailureReason } from './notify-reasons';

export const NOTIFY_STATE_FILE = 'notify.json';
const VERSION = 1;

export interface ChannelCounts {
  /** Messages delivered (a digest of several events is one). */
  sent: number;
  /** Delivery attempts that failed, by reason. */
  failed: Partial<Record<NotifyFailureReason, number>>;
  /** Events dropped unsent (older than notify.maxAge, or a corrupt outbox file). */
  dropped: number;
  /** Events waiting in the outbox. */
  queued: number;
}

export interface NotifyState {
  version: typeof VERSION;
  channels: Record<string, ChannelCounts>;
  /** Per domain: the signature (events.ts) of the last event accepted for sending, and when. */
  lastEvents: Record<string, { signature: string; at: number }>;
}

const count = z.number().int().nonnegative();
const known = new Set<string>(NOTIFY_FAILURE_REASONS);
const schema = z.object({
  version: z.literal(VERSION),
  channels: z.record(
    z.string(),
    z.object({
      sent: count,
      failed: z.record(z.string(), count).transform((all) => Object.fromEntries(Object.entries(all).filter(([r]) => known.has(r)))),
      dropped: count,
      queued: count,
    }),
  ),
  lastEvents: z.record(z.string(), z.object({ signature: z.string(), at: z.number() })),
});

export const emptyNotifyState = (): NotifyState => ({ version: VERSION, channels: {}, lastEvents: {} });
export const emptyCounts = (): ChannelCounts => ({ sent: 0, failed: {}, dropped: 0, queued: 0 });
export const notifyStateFile = (stateDir: string): string => path.join(stateDir, NOTIFY_STATE_FILE);

function parse(text: string): NotifyState | string {
  try {
    const result = schema.safeParse(JSON.parse(text));
    return result.success ? result.data : `${result.error.issues[0]?.path.join('.') || '(top)'}: ${result.error.issues[0]?.message ?? 'invalid'}`;
  } catch (err) {
    return `not JSON: ${messageOf(err)}`;
  }
}

/** Read, change, write, under the state lock. `change` edits the state in place. */
export async function updateNotifyState(stateDir: string, change: (state: NotifyState) => void, log: Logger): Promise<NotifyState> {
  return withStateLock(
    stateDir,
    async () => {
      const file = notifyStateFile(stateDir);
      const text = await fs.promises.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      let state = emptyNotifyState();
      if (text !== undefined) {
        const parsed = parse(text);
        if (typeof parsed === 'string') log.warn({ file }, `${file} is corrupt (${parsed}); notification counters start again from 0`);
        else state = parsed;
      }
      change(state);
      await writeFileDurably(realOps, file, JSON.stringify(state, null, 2) + '\n', { mode: 0o640, dirMode: 0o750 });
      return state;
    },
    log,
  );
}

/** What one delivery round did for one channel (flush.ts RoundResult). */
export interface RoundCounts {
  sent: number;
  dropped: number;
  failed?: { reason: NotifyFailureReason };
}

/**
 * Adds each channel's round to its counters and sets its queue size. `queued` lists the configured
 * channels; channels no longer configured are forgotten (their series leave /metrics).
 */
export function recordCounts(
  stateDir: string,
  queued: ReadonlyMap<string, number>,
  rounds: ReadonlyMap<string, RoundCounts>,
  log: Logger,
): Promise<NotifyState> {
  return updateNotifyState(
    stateDir,
    (s) => {
      const kept: NotifyState['channels'] = {};
      for (const [label, size] of queued) {
        const counts = (kept[label] = s.channels[label] ?? emptyCounts());
        counts.queued = size;
        const r = rounds.get(label);
        if (!r) continue;
        counts.sent += r.sent;
        counts.dropped += r.dropped;
        if (r.failed) counts.failed[r.failed.reason] = (counts.failed[r.failed.reason] ?? 0) + 1;
      }
      s.channels = kept;
    },
    log,
  );
}

export interface NotifyScrape {
  state: NotifyState;
  /** Why the file was not used; absent when it was read or does not exist yet. */
  error?: string;
}

const readCached = cachedFileReader<NotifyScrape>({
  parse(text, file) {
    const parsed = parse(text);
    return typeof parsed === 'string' ? { state: emptyNotifyState(), error: `${file} is corrupt: ${parsed}` } : { state: parsed };
  },
  missing: () => ({ state: emptyNotifyState() }),
  unreadable: (error) => ({ state: emptyNotifyState(), error }),
});

/** The exporter's read: one open + fstat, a parse only when the file changed. Never throws. */
export function readNotifyStateForScrape(stateDir: string): NotifyScrape {
  return readCached(notifyStateFile(stateDir));
}
