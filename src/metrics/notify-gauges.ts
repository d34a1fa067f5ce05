/**
 * The xmpp_cert_notification* metrics, from the worker's notify.json read at scrape time (cached
 * by the reader until the file changes), as renewal-gauges.ts does with state.json: `refresh()`
 * awaits the read, then resets and sets every series synchronously. Every failure reason of every
 * channel the worker wrote starts at 0. The `channel` label is `email` or `webhook:<name|index>`,
 * never an address or URL. It never writes; a corrupt file is read as no channels.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { NOTIFY_FAILURE_REASONS } from '../state/notify-reasons';
import { readNotifyStateForScrape } from '../state/notify-state';

export interface NotifyGauges {
  refresh(): void;
}

export function createNotifyGauges(registry: Registry, stateDir: () => string): NotifyGauges {
  const registers = [registry];
  const channel = ['channel'] as const;
  const sent = new Counter({
    name: 'xmpp_cert_notifications_sent_total',
    help: 'Renewal event messages delivered per channel (a digest of several events counts once).',
    labelNames: channel,
    registers,
  });
  const failed = new Counter({
    name: 'xmpp_cert_notifications_failed_total',
    help: 'Delivery attempts that failed per channel, by reason; the events stay queued and are retried.',
    labelNames: ['channel', 'reason'],
    registers,
  });
  const dropped = new Counter({
    name: 'xmpp_cert_notifications_dropped_total',
    help: 'Renewal events dropped unsent per channel (older than notify.maxAge).',
    labelNames: channel,
    registers,
  });
  const queued = new Gauge({
    name: 'xmpp_cert_notification_outbox_events',
    help: 'Renewal events waiting in the outbox per channel.',
    labelNames: channel,
    registers,
  });
  const all = [sent, failed, dropped, queued];

  return {
    refresh() {
      const { state } = readNotifyStateForScrape(stateDir());
      for (const metric of all) metric.reset();
      for (const [name, c] of Object.entries(state.channels)) {
        sent.inc({ channel: name }, c.sent);
        for (const reason of NOTIFY_FAILURE_REASONS) failed.inc({ channel: name, reason }, c.failed[reason] ?? 0);
        dropped.inc({ channel: name }, c.dropped);
        queued.set({ channel: name }, c.queued);
      }
    },
  };
}
