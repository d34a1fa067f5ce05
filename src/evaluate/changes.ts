/**
 * Status changes between two reports: the alert events (a domain going into warning, critical,
 * expired, missing or error, or back to ok). Pure; logging them is the caller's job.
 */
import type { Report } from './report';
import type { Status } from './status';

export interface StatusChange {
  domain: string;
  from: Status | 'unknown';
  to: Status;
  detail: string;
}

/** On the first report (no previous one) only non-ok domains are events: a start is not a recovery. */
export function statusChanges(previous: Report | undefined, next: Report): StatusChange[] {
  const before = new Map(previous?.domains.map((d) => [d.domain, d.status]) ?? []);
  const changes: StatusChange[] = [];
  for (const d of next.domains) {
    const from = before.get(d.domain) ?? 'unknown';
    if (from === d.status || (from === 'unknown' && d.status === 'ok')) continue;
    changes.push({ domain: d.domain, from, to: d.status, detail: d.detail });
  }
  return changes;
}
