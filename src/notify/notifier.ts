/**
 * The worker's notifier. After each renewal outcome: build its event (events.ts), append it to
 * logging.alertLog, skip it when it repeats the last one for the domain within notify.dedupe, and
 * queue it in the outbox for every channel its type is routed to. Delivery runs later, on a timer:
 * when the digest window of a channel's oldest event closes, all its queued events go out as one
 * message; a failed channel is retried with exponential backoff (notify.retry, kept in memory: a
 * restart, often after a config fix, tries again at once); queued events survive restarts; the
 * outbox is swept every minute for events another process (`renew`) queued; stop() delivers what
 * is queued without waiting for the window, for at most STOP_FLUSH_MS.
 * Counters go to notify.json for the exporter. Rounds are serialised in the process and, across
 * processes, by a lock, so two workers never send the same queued event at the same time.
 * Nothing here throws into the worker: a notification problem is logged and counted, never a
 * reason for a renewal to fail.
 */
import fs from 'node:fs';
import type { Config } from '../config';
import { messageOf } from '../shared/errors';
import { appendAlertLog, type Logger } from '../shared/log';
import { tryGroupLock } from '../state/lock';
import { backoffSeconds } from '../state/backoff';
import { readStateForScrape } from '../state/state';
import type { Channel } from './channel';
import { createChannels } from './channels';
import { isRepeat } from './dedupe';
import { eventsFromOutcome, signature, type NotifyEvent, type RenewalRun } from './events';
import { deliverRound, type RoundResult } from './flush';
import { notifyStateFile, recordCounts, updateNotifyState } from '../state/notify-state';
import { addToOutbox, outboxChannels, outboxDir, outboxSize, readOutbox, removeFromOutbox, storedName } from './outbox';

const SWEEP_SECONDS = 60;
/** Within the shutdown deadline (9 s, cli.ts); what is not delivered by then stays queued for the next start. */
const STOP_FLUSH_MS = 5_000;
/** Not a certificate group: group names are domain names, which never contain "+". */
const OUTBOX_LOCK = '+notify-outbox';

export interface NotifierDeps {
  /** Tests pass their own channels; by default they come from the config. */
  channels?: Channel[];
  now?: () => number;
}

export class Notifier {
  private readonly channels: Channel[];
  private readonly warnings: string[];
  private readonly now: () => number;
  private readonly backoff = new Map<string, { failures: number; until: number }>();
  private timer: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private rounds: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    deps: NotifierDeps = {},
  ) {
    const built = deps.channels ? { channels: deps.channels, warnings: [] } : createChannels(config);
    this.channels = built.channels;
    this.warnings = built.warnings;
    this.now = deps.now ?? (() => Date.now() / 1000);
  }

  private get stateDir(): string {
    return this.config.renewal.stateDir;
  }

  /** Counters for the configured channels, events a previous run left, then the timer. */
  async start(): Promise<void> {
    for (const warning of this.warnings) this.log.warn(warning);
    if (this.channels.length === 0 && !fs.existsSync(notifyStateFile(this.stateDir)) && !fs.existsSync(outboxDir(this.stateDir))) return;
    await this.guard('cannot prepare the notification outbox', async () => {
      await this.dropUnconfigured();
      await this.record(new Map());
    });
    if (this.channels.length > 0) this.wake(this.now());
  }

  /** Queues the outcome's event (if any); resolves once it is durable in the outbox. */
  async renewalOutcome(outcome: RenewalRun): Promise<void> {
    if (this.channels.length === 0 && !this.config.logging.alertLog) return;
    await this.guard(`cannot queue the notification for ${outcome.group.name}`, async () => {
      const now = this.now();
      const group = readStateForScrape(this.stateDir).state.groups[outcome.group.name];
      for (const event of eventsFromOutcome(outcome, now, group)) await this.publish(event, now);
    });
  }

  /** Delivers what is queued now (no digest wait), for at most STOP_FLUSH_MS; stops the timer. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.channels.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_FLUSH_MS)));
    await Promise.race([this.round(true), late]);
    clearTimeout(timer);
  }

  private async publish(event: NotifyEvent, now: number): Promise<void> {
    const { type, time: _time, ...fields } = event;
    appendAlertLog(this.config.logging.alertLog, { event: type, ...fields }, this.log);
    const routed = type === 'test' ? [] : this.channels.filter((c) => c.events.has(type));
    if (routed.length === 0) return;
    let repeat: { at: number } | undefined;
    await updateNotifyState(
      this.stateDir,
      (s) => {
        const last = s.lastEvents[event.domain];
        if (isRepeat(last, event, now, this.config.notify.dedupe)) repeat = last;
        else s.lastEvents[event.domain] = { signature: signature(event), at: now };
      },
      this.log,
    );
    if (repeat) {
      this.log.info(
        { event: type, domain: event.domain },
        `${event.domain}: ${type} not sent again: the same was sent at ${new Date(repeat.at * 1000).toISOString()} (notify.dedupe)`,
      );
      return;
    }
    for (const channel of routed) await addToOutbox(this.stateDir, channel.label, event, now);
    this.log.info({ event: type, domain: event.domain }, `${event.domain}: ${type} queued for ${routed.map((c) => c.label).join(', ')}`);
    await this.record(new Map());
    this.wake(now + this.config.notify.digestWindow);
  }

  /** A delivery round at `at`, unless one is already due sooner; each round books the next. */
  private wake(at: number): void {
    if (this.stopped || at >= this.wakeAt) return;
    clearTimeout(this.timer);
    this.wakeAt = at;
    this.timer = setTimeout(
      () => {
        this.wakeAt = Infinity;
        void this.round(false).then((next) => this.wake(Math.min(next, this.now() + SWEEP_SECONDS)));
      },
      Math.max(0, (at - this.now()) * 1000),
    );
    this.timer.unref(); // the worker's schedule keeps the process alive, never this timer
  }

  /** One round over every channel, after any round in progress; resolves to the next time one is needed. */
  private round(ignoreWindow: boolean): Promise<number> {
    const run = this.rounds.then(() => this.lockedRound(ignoreWindow));
    this.rounds = run.then(() => undefined);
    return run;
  }

  private async lockedRound(ignoreWindow: boolean): Promise<number> {
    let next = Infinity;
    await this.guard('notification delivery failed', async () => {
      const locked = await tryGroupLock(
        this.stateDir,
        OUTBOX_LOCK,
        async () => {
          // Channels side by side: a mail server that takes its timeout does not hold up the webhooks.
          const rounds = await Promise.all(this.channels.map(async (channel) => [channel.label, await this.channelRound(channel, ignoreWindow)] as const));
          for (const [label, result] of rounds) next = Math.min(next, result.windowEnd ?? Infinity, this.backoff.get(label)?.until ?? Infinity);
          await this.record(new Map(rounds));
        },
        this.log,
      );
      // Another process is delivering: its round covers these events too; look again soon.
      if (locked.status === 'busy') next = this.now() + 5;
    });
    return next;
  }

  private async channelRound(channel: Channel, ignoreWindow: boolean): Promise<RoundResult> {
    const now = this.now();
    const waiting = this.backoff.get(channel.label);
    if (waiting && waiting.until > now) return { sent: 0, dropped: 0 };
    const { digestWindow, maxAge, retry } = this.config.notify;
    const result = await deliverRound(channel, { stateDir: this.stateDir, now, digestWindow, maxAge, ignoreWindow }, this.log);
    if (!result.failed) {
      this.backoff.delete(channel.label);
      return result;
    }
    const failures = (waiting?.failures ?? 0) + 1;
    const until = this.now() + backoffSeconds(failures, retry.initial, retry.max);
    this.backoff.set(channel.label, { failures, until });
    this.log.warn(
      { channel: channel.label, reason: result.failed.reason },
      `${channel.label}: ${result.failed.message}; the notification stays queued, next try at ${new Date(until * 1000).toISOString()}`,
    );
    return result;
  }

  /** Adds a round's results to notify.json, with each channel's queue size. */
  private async record(results: ReadonlyMap<string, RoundResult>): Promise<void> {
    const queued = new Map<string, number>();
    for (const c of this.channels) queued.set(c.label, await outboxSize(this.stateDir, c.label));
    await recordCounts(this.stateDir, queued, results, this.log);
  }

  /** Events queued for a channel that is no longer configured cannot be sent: logged and removed. */
  private async dropUnconfigured(): Promise<void> {
    const configured = new Set(this.channels.map((c) => storedName(c.label)));
    for (const dir of await outboxChannels(this.stateDir)) {
      if (configured.has(dir)) continue;
      const { entries } = await readOutbox(this.stateDir, dir);
      if (entries.length > 0)
        this.log.warn(
          { channel: entries[0]!.channel },
          `dropped ${entries.length} queued notification(s) for ${entries[0]!.channel}, which is no longer configured`,
        );
      await removeFromOutbox(entries);
    }
  }

  private async guard(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.error({ stateDir: this.stateDir }, `${what}: ${messageOf(err)}`);
    }
  }
}
