/**
 * The channels built from the config: e-mail when it has a recipient, one per webhook. Does not
 * send (email.ts, webhook.ts) nor queue (notifier.ts).
 */
import os from 'node:os';
import type { Config } from '../config';
import type { Channel } from './channel';
import { EmailChannel } from './email';
import { WebhookChannel } from './webhook';

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
  else if (hostSet)
    warnings.push(
      `notify.email: an SMTP server is configured (${email.host}) but no recipient: set notify.email.to (or CERT_ALERT_EMAIL, or renewal.email); no e-mail is sent`,
    );
  config.notify.webhooks.forEach((hook, index) => channels.push(new WebhookChannel(hook, `webhook:${hook.name ?? index}`)));
  return { channels, warnings };
}
