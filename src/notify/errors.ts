/**
 * The error a channel throws when a notification cannot be delivered, with a reason from
 * state/notify-reasons.ts. Messages name the channel, the server (host:port, never a URL path) and
 * what to check; they never carry a password, a webhook token or a header value.
 */
import { XmppCertError } from '../shared/errors';
import type { NotifyFailureReason } from '../state/notify-reasons';

export { NOTIFY_FAILURE_REASONS, type NotifyFailureReason } from '../state/notify-reasons';

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
