/**
 * The channel interface: one per configured e-mail or webhook target (channels.ts builds the list).
 * A channel sends one message made of one or more events, and throws a NotifyError with a
 * reason when it cannot; it neither queues nor retries (notifier.ts and outbox.ts do).
 * Labels (`email`, `webhook:<name or index>`) name channels in metrics, logs and the outbox;
 * they never contain an address, URL or token. Plain types.
 */
import type { NotifyEventType } from '../config/notify-schema';
import type { NotifyEvent } from './events';

export interface Channel {
  /** `email` or `webhook:<name|index>`: the metric label and outbox directory. */
  readonly label: string;
  /** The event types routed to it (notify.*.events). */
  readonly events: ReadonlySet<NotifyEventType>;
  /** Where it sends, for `notify test` and logs: an address and host:port, or a URL's origin. */
  describe(): string;
  send(events: readonly NotifyEvent[]): Promise<void>;
}
