/**
 * The outbox: events waiting for a channel, one JSON file each, under
 * `<stateDir>/outbox/<channel>/` (`webhook:0` is stored as `webhook-0`). A file is written
 * atomically (temp name, fsync, rename, directory fsync) before any send is tried, and removed
 * only after the message holding it was delivered, so an event survives a crash, a restart or a
 * channel that is down: delivery is at least once. Files hold the event only, never the channel's
 * address, password, URL or headers (those come from the config at send time).
 * A file that cannot be parsed is moved aside (`*.corrupt-<time>`) and reported, as state/state.ts does.
 * Does not send, retry or decide when (notifier.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { messageOf } from '../shared/errors';
import { realOps, writeFileDurably } from '../state/durable-fs';
import type { NotifyEvent } from './events';

const VERSION = 1;

export interface OutboxEntry {
  /** The file, for remove(). */
  file: string;
  channel: string;
  /** When it was queued, Unix seconds. */
  queuedAt: number;
  event: NotifyEvent;
}

export interface OutboxRead {
  entries: OutboxEntry[];
  /** One line per corrupt file moved aside. */
  warnings: string[];
}

const eventSchema = z.object({
  type: z.enum(['renewal_succeeded', 'renewal_failed', 'fallback_in_use', 'verify_failed', 'test']),
  domain: z.string(),
  names: z.array(z.string()),
  time: z.number(),
  issuer: z.string().optional(),
  notAfter: z.number().optional(),
  verify: z.object({ result: z.string(), detail: z.string() }).optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  failedRuns: z.number().optional(),
  nextAttempt: z.number().optional(),
  retryAfter: z.number().optional(),
});

const fileSchema = z.object({ version: z.literal(VERSION), channel: z.string(), queuedAt: z.number(), event: eventSchema });

export const outboxDir = (stateDir: string): string => path.join(stateDir, 'outbox');
const channelDir = (stateDir: string, channel: string) => path.join(outboxDir(stateDir), channel.replace(/[^a-z0-9_-]/gi, '-'));

/** Queues `event` for `channel`; resolves once the file is durable. */
export async function addToOutbox(stateDir: string, channel: string, event: NotifyEvent, queuedAt: number): Promise<void> {
  const dir = channelDir(stateDir, channel);
  await fs.promises.mkdir(path.dirname(dir), { recursive: true, mode: 0o750 });
  // Names sort by time of queueing, so the oldest event is first and a digest keeps its order.
  const name = `${String(Math.round(queuedAt * 1000)).padStart(14, '0')}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  const text = JSON.stringify({ version: VERSION, channel, queuedAt, event }) + '\n';
  await writeFileDurably(realOps, path.join(dir, `${name}.json`), text, { mode: 0o640, dirMode: 0o750, temp: path.join(dir, `.${name}.tmp`) });
}

/** Every queued event of `channel`, oldest first. A missing directory is an empty outbox. */
export async function readOutbox(stateDir: string, channel: string): Promise<OutboxRead> {
  const dir = channelDir(stateDir, channel);
  const names = await fs.promises.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  const entries: OutboxEntry[] = [];
  const warnings: string[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const file = path.join(dir, name);
    const text = await fs.promises.readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue; // removed meanwhile by another worker's delivery
    const parsed = parse(text);
    if ('entry' in parsed) {
      entries.push({ file, ...parsed.entry });
      continue;
    }
    const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await fs.promises.rename(file, aside).catch(() => undefined);
    warnings.push(`the outbox file ${file} is corrupt (${parsed.error}); moved it to ${aside}, its notification is lost`);
  }
  return { entries, warnings };
}

function parse(text: string): { entry: Omit<OutboxEntry, 'file'> } | { error: string } {
  try {
    const result = fileSchema.safeParse(JSON.parse(text));
    if (result.success) return { entry: { channel: result.data.channel, queuedAt: result.data.queuedAt, event: result.data.event } };
    return { error: `${result.error.issues[0]?.path.join('.') || '(top)'}: ${result.error.issues[0]?.message ?? 'invalid'}` };
  } catch (err) {
    return { error: `not JSON: ${messageOf(err)}` };
  }
}

/** After delivery (or a drop): the files go. One already gone is fine (another worker sent it). */
export async function removeFromOutbox(entries: readonly OutboxEntry[]): Promise<void> {
  await Promise.all(entries.map((e) => fs.promises.rm(e.file, { force: true })));
  const dirs = new Set(entries.map((e) => path.dirname(e.file)));
  await Promise.all([...dirs].map((d) => realOps.syncDir(d).catch(() => undefined)));
}

/** The channels that have a directory in the outbox (configured or not), by their stored name. */
export async function outboxChannels(stateDir: string): Promise<string[]> {
  const names = await fs.promises.readdir(outboxDir(stateDir), { withFileTypes: true }).catch(() => []);
  return names.filter((d) => d.isDirectory()).map((d) => d.name);
}

export const storedName = (channel: string): string => path.basename(channelDir('/', channel));

/** Queued events of `channel` (the number of files), without parsing them. */
export async function outboxSize(stateDir: string, channel: string): Promise<number> {
  const names = await fs.promises.readdir(channelDir(stateDir, channel)).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.json')).length;
}
