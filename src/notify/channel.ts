/**
 * The channel interface (one per configured e-mail or webhook target) and the list built from the
 * config. A channel sends one message made of one or more events, and throws a NotifyError with a
 * reason when it cannot; it neither queues nor retries (notifier.ts and outbox.ts do).
 * Labels (`email`, `webhook:<name or index>`) name channels in metrics, logs and the outbox;
 * they never contain an address, URL or token.
 */
import os from 'node:os';
import type { Config } from '../config';
import type { NotifyEventType } from '../config/notify-schema';
import { EmailChannel } from './email';
import type { NotifyEvent } from './events';
import { WebhookChannel } from './webhook';

export interface Channel {
  /** `email` or `webhook:<name|index>`: the metric label and outbox directory. */
  readonly label: string;
  /** The event types routed to it (notify.*.events). */
  readonly events: ReadonlySet<NotifyEventType>;
  /** Where it sends, for `notify test` and logs: an address and host:port, or a URL's origin. */
  describe(): string;
  send(events: readonly NotifyEvent[]): Promise<void>;
}

export interface Channels {
  channels: Channel[];
  /** Configuration that leaves a channel out (e-mail with a host but no recipient), for the log. */
  warnings: string[];
}

/**
 * E-mail is on when it has a recipient: notify.email.to (CERT_ALERT_EMAIL), or renewal.email
 * (LETSENCRYPT_EMAIL) once an SMTP host is configured. An ACME contact alone does not turn mail on:
 * that address is for the CA, and a server without a local MTA would only fill the outbox.
 */
export function createChannels(config: Config): Channels {
  const channels: Channel[] = [];
  const warnings: string[] = [];
  const email = config.notify.email;
  const hostSet = email.host !== undefined;
  const to = email.to ?? (hostSet ? config.renewal.email : undefined);
  if (to) channels.push(new EmailChannel({ ...email, to, from: email.from ?? `xmpp-cert@${os.hostname()}` }));
  else if (hostSet) warnings.push(`notify.email: an SMTP server is configured (${email.host}) but no recipient: set notify.email.to (or CERT_ALERT_EMAIL, or renewal.email); no e-mail is sent`);
  config.notify.webhooks.forEach((hook, index) => channels.push(new WebhookChannel(hook, `webhook:${hook.name ?? index}`)));
  return { channels, warnings };
}
