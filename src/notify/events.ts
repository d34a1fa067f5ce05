/**
 * Renewal events, built from the outcome of one renewal run: what operators are told by e-mail and
 * webhook. Pure: the caller passes the time and the group's recorded state (for the certificate's
 * notAfter and the count of failed runs). `not_due` and `waiting` runs are not events. Does not
 * decide who gets an event (notifier.ts, from `events` of each channel) nor how it reads (format.ts).
 */
import type { NotifyEventType } from '../config/notify-schema';
import type { GroupState } from '../state/state-types';

export { NOTIFY_EVENT_TYPES, type NotifyEventType } from '../config/notify-schema';

export interface NotifyEvent {
  /** `test` only from `xmpp-cert notify test`; never routed or queued. */
  type: NotifyEventType | 'test';
  /** The certificate group's name (its directory under certs/, usually the VirtualHost). */
  domain: string;
  /** Every name the certificate covers. */
  names: string[];
  /** When it happened, Unix seconds. */
  time: number;
  issuer?: string;
  /** The installed certificate's expiry, Unix seconds. */
  notAfter?: number;
  verify?: { result: string; detail: string };
  /** A renewal failure reason (state/failure-reasons.ts). */
  reason?: string;
  message?: string;
  /** Failed renewal runs in a row, this one included. */
  failedRuns?: number;
  /** Not before this time will the worker try again (backoff or Retry-After), Unix seconds. */
  nextAttempt?: number;
  /** The CA's Retry-After, Unix seconds. */
  retryAfter?: number;
}

/**
 * What the notifier is told about one renewal run: the notify side's own view of an outcome.
 * renewal/renew.ts's RenewOutcome has this shape, and processes/worker.ts hands one over after
 * each run; notify never imports renewal.
 */
export interface RenewalRun {
  group: { name: string; domains: readonly string[] };
  result: 'renewed' | 'fallback' | 'not_due' | 'waiting' | 'failed';
  /** The issuer whose certificate was installed, if one was. */
  issuer?: string;
  /** The last failure; `reason` is one of state/failure-reasons.ts. */
  error?: { reason: string; message: string; details: { retryAfter?: number } };
  verify?: { result: string; detail: string };
  nextAttempt?: number;
}

/** The events one renewal run stands for (none, or one). */
export function eventsFromOutcome(outcome: RenewalRun, now: number, group?: GroupState): NotifyEvent[] {
  const base: NotifyEvent = { type: 'renewal_failed', domain: outcome.group.name, names: [...outcome.group.domains], time: now };
  const installed = {
    ...(outcome.issuer ? { issuer: outcome.issuer } : {}),
    ...(group?.notAfter !== undefined && outcome.issuer ? { notAfter: group.notAfter } : {}),
  };
  const verify = outcome.verify ? { verify: { result: outcome.verify.result, detail: outcome.verify.detail } } : {};
  switch (outcome.result) {
    case 'renewed':
      return [{ ...base, type: 'renewal_succeeded', ...installed, ...verify }];
    case 'fallback':
      return [{ ...base, type: 'fallback_in_use', ...installed, ...verify, ...failure(outcome, group) }];
    case 'failed':
      if (outcome.error?.reason === 'verify') return [{ ...base, type: 'verify_failed', ...installed, ...verify, ...failure(outcome, group) }];
      return [{ ...base, ...installed, ...failure(outcome, group) }];
    default:
      return [];
  }
}

function failure(outcome: RenewalRun, group: GroupState | undefined): Partial<NotifyEvent> {
  const error = outcome.error;
  return {
    reason: error?.reason ?? 'unknown',
    // No error: the run was stopped by a bug (processes/worker.ts logs it); say so rather than nothing.
    message: error?.message ?? `${outcome.group.name}: renewal stopped by an unexpected error (see the worker's log)`,
    ...(group && group.consecutiveFailures > 0 ? { failedRuns: group.consecutiveFailures } : {}),
    ...(outcome.nextAttempt !== undefined ? { nextAttempt: outcome.nextAttempt } : {}),
    ...(error?.details.retryAfter !== undefined ? { retryAfter: error.details.retryAfter } : {}),
  };
}

/**
 * What makes two events "the same" for dedupe: the type, and for failures the reason. A failure
 * with a new reason, or a success after failures, is news; the same failure again is not.
 */
export function signature(event: NotifyEvent): string {
  return event.reason && event.type !== 'renewal_succeeded' ? `${event.type}:${event.reason}` : event.type;
}

/** The event `xmpp-cert notify test` sends. */
export function testEvent(now: number, host: string): NotifyEvent {
  return { type: 'test', domain: host, names: [], time: now, message: `a test message from xmpp-cert on ${host}: this channel works` };
}
