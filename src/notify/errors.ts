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

export { scrub } from '../shared/secrets';
