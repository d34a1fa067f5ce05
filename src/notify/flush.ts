/**
 * One delivery round for one channel: read its outbox, drop what is older than notify.maxAge,
 * and, once the digest window of the oldest event has passed (or at shutdown), send everything
 * queued as one message (at most MAX_EVENTS_PER_MESSAGE events each) and remove it from the outbox.
 * A failure stops the round for that channel; the events stay queued. Returns what happened for
 * the counters and when this channel next needs a round. Does not take locks, back off or
 * schedule (notifier.ts does).
 */
import type { Logger } from '../shared/log';
import { messageOf } from '../shared/errors';
import type { Channel } from './channel';
import { NotifyError, type NotifyFailureReason } from './errors';
import { headline } from './format';
import { readOutbox, removeFromOutbox, type OutboxEntry } from './outbox';

export const MAX_EVENTS_PER_MESSAGE = 50;

export interface RoundOptions {
  stateDir: string;
  now: number;
  digestWindow: number;
  maxAge: number;
  /** At shutdown: send what is queued without waiting for the window to close. */
  ignoreWindow: boolean;
}

export interface RoundResult {
  sent: number;
  dropped: number;
  /** The failure that ended the round, if any. */
  failed?: NotifyError;
  /** When the oldest queued event's window closes (nothing sent yet). */
  windowEnd?: number;
}

export async function deliverRound(channel: Channel, options: RoundOptions, log: Logger): Promise<RoundResult> {
  const { entries, warnings } = await readOutbox(options.stateDir, channel.label);
  for (const warning of warnings) log.warn({ channel: channel.label }, warning);
  const expired = entries.filter((e) => options.now - e.queuedAt > options.maxAge);
  await dropExpired(channel.label, expired, options.maxAge, log);
  const result: RoundResult = { sent: 0, dropped: expired.length + warnings.length };
  let pending = entries.filter((e) => !expired.includes(e));
  const oldest = pending[0];
  if (oldest && !options.ignoreWindow && oldest.queuedAt + options.digestWindow > options.now) {
    return { ...result, windowEnd: oldest.queuedAt + options.digestWindow };
  }
  while (pending.length > 0) {
    const batch = pending.slice(0, MAX_EVENTS_PER_MESSAGE);
    try {
      await channel.send(batch.map((e) => e.event));
    } catch (err) {
      return { ...result, failed: asNotifyError(err, channel.label) };
    }
    await removeFromOutbox(batch);
    result.sent++;
    log.info(
      { channel: channel.label, events: batch.length },
      `notification sent through ${channel.label}: ${batch.length === 1 ? headline(batch[0]!.event) : `${batch.length} events`}`,
    );
    pending = pending.slice(batch.length);
  }
  return result;
}

async function dropExpired(label: string, expired: readonly OutboxEntry[], maxAge: number, log: Logger): Promise<void> {
  if (expired.length === 0) return;
  for (const e of expired) {
    log.warn(
      { channel: label, event: e.event.type, domain: e.event.domain },
      `dropped a notification not delivered through ${label} within ${maxAge}s (notify.maxAge): ${headline(e.event)}, queued ${new Date(e.queuedAt * 1000).toISOString()}`,
    );
  }
  await removeFromOutbox(expired);
}

/** A channel bug (not a NotifyError) still counts as a failure, reason unknown. */
function asNotifyError(err: unknown, label: string): NotifyError {
  if (err instanceof NotifyError) return err;
  return new NotifyError(messageOf(err), 'unknown' satisfies NotifyFailureReason, label, { cause: err });
}
