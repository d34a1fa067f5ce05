/**
 * Why a notification could not be delivered: one list of reasons (the `reason` label of
 * xmpp_cert_notifications_failed_total, every one present from 0) and the error that carries it.
 * Messages name the channel, the server (host:port, never a URL path) and what to check; they
 * never carry a password, a webhook token or a header value. Plain data and one error class.
 */
import { XmppCertError } from '../shared/errors';

export const NOTIFY_FAILURE_REASONS = [
  'connection', // refused, reset, unreachable
  'dns', // the server's name does not resolve
  'timeout',
  'tls', // TLS or STARTTLS failed: no STARTTLS offered, certificate not trusted or wrong name
  'auth', // SMTP login refused or required; webhook 401/403
  'recipient', // the SMTP server refused a recipient
  'rejected', // the message was refused for good: SMTP 5xx, webhook 4xx, a redirect
  'server_error', // a transient refusal: SMTP 4xx, webhook 5xx or 429
  'config', // our side: the password file cannot be read, no recipient
  'unknown',
] as const;

export type NotifyFailureReason = (typeof NOTIFY_FAILURE_REASONS)[number];

/** A delivery through one channel failed. `channel` is its label (`email`, `webhook:0`); the message does not repeat it. */
export class NotifyError extends XmppCertError {
  constructor(
    message: string,
    readonly reason: NotifyFailureReason,
    readonly channel: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Replaces every occurrence of each secret in `text` (defence in depth for server-supplied text). */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so a whole path+query becomes one <redacted> rather than pieces of it.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) if (secret.length >= 4) out = out.split(secret).join('<redacted>');
  return out;
}
