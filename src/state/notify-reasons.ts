/**
 * Why a notification could not be delivered: one list, a stable contract (the `reason` label of
 * xmpp_cert_notifications_failed_total, every one present from 0, and the counters in notify.json).
 * Plain data; notify/errors.ts carries a reason in its NotifyError.
 */
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
