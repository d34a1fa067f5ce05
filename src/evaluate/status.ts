/**
 * Status of a certificate, a domain and the whole report, and the Nagios-style exit code.
 * Boundaries: a certificate is critical when its remaining time is <= the critical threshold,
 * warning when <= the warning threshold, expired from its notAfter second on. Pure.
 */
import type { Certificate } from '../cert';
import type { ThresholdSeconds } from './thresholds';

export const STATUSES = ['ok', 'warning', 'critical', 'expired', 'missing', 'error'] as const;
export type Status = (typeof STATUSES)[number];

/** Worse statuses rank higher; `error` (unknown) ranks below the certain problems; no certificate at all ranks with expired. */
const RANK: Record<Status, number> = { ok: 0, warning: 1, error: 2, critical: 3, missing: 4, expired: 5 };

export function certificateStatus(cert: Pick<Certificate, 'notBefore' | 'notAfter'>, thresholds: ThresholdSeconds, now: number): Status {
  const left = cert.notAfter - now;
  if (left <= 0) return 'expired';
  if (now < cert.notBefore) return 'critical'; // not yet valid: clients reject it today
  if (left <= thresholds.critical) return 'critical';
  if (left <= thresholds.warning) return 'warning';
  return 'ok';
}

export function worst(statuses: Iterable<Status>): Status {
  let result: Status = 'ok';
  for (const status of statuses) if (RANK[status] > RANK[result]) result = status;
  return result;
}

/** Nagios plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
export function exitCode(statuses: Iterable<Status>): 0 | 1 | 2 | 3 {
  const all = new Set(statuses);
  if (all.has('expired') || all.has('critical') || all.has('missing')) return 2;
  if (all.has('error')) return 3;
  if (all.has('warning')) return 1;
  return 0;
}
