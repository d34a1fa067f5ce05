/**
 * The renewal policy, pure: is a certificate group due, since when, and may we try now?
 * Due at once: no certificate, expired, self-signed while a CA issuer is configured, a name of the
 * group not covered. Otherwise due from the renewal point: the CA's ARI window when it offers one
 * (a stable pseudo-random time inside it), else `thresholds.renewal` (days, a share of the lifetime,
 * or auto = 1/3 left, 1/2 for lifetimes <= 10 days). Whether a due group may be tried now depends on
 * the group's `nextAttempt` (a CA's Retry-After or our backoff), except when forced.
 * No I/O, no clock: `now` comes in.
 */
import crypto from 'node:crypto';
import { coversName, type Certificate } from '../cert';
import type { Threshold } from '../config';
import { thresholdSeconds } from '../evaluate/thresholds';
import type { GroupState } from '../state/state-types';

import type { RenewalWindow } from './types';

export const DUE_REASONS = ['missing', 'expired', 'self_signed', 'not_covered', 'ari_window', 'threshold'] as const;
export type DueReason = (typeof DUE_REASONS)[number];

export interface PolicyInput {
  domains: readonly string[];
  /** The leaf of the group's current certificate, if any. */
  current?: Certificate;
  now: number;
  renewal: Threshold;
  /** A CA (ACME) issuer is configured: a self-signed certificate is then a fallback to replace. */
  caConfigured: boolean;
  window?: RenewalWindow;
  state?: Pick<GroupState, 'nextAttempt'>;
}

export interface Decision {
  due: boolean;
  /** Why it is due, or (not due) what the renewal point was computed from. */
  reason: DueReason;
  /** Unix seconds at which the group is (or becomes) due. */
  dueAt: number;
  /** Set when due but held back (Retry-After or backoff) until then. */
  waitUntil?: number;
  /** The name the certificate does not cover (reason not_covered). */
  uncovered?: string;
}

export function decide(input: PolicyInput): Decision {
  const immediate = dueAtOnce(input);
  const decision: Decision = immediate ?? renewalPoint(input);
  const wait = input.state?.nextAttempt;
  if (decision.due && wait !== undefined && wait > input.now) decision.waitUntil = wait;
  return decision;
}

function dueAtOnce({ domains, current, now, caConfigured }: PolicyInput): Decision | undefined {
  if (!current) return { due: true, reason: 'missing', dueAt: now };
  if (current.notAfter <= now) return { due: true, reason: 'expired', dueAt: current.notAfter };
  if (current.selfSigned && caConfigured) return { due: true, reason: 'self_signed', dueAt: now };
  const uncovered = domains.find((domain) => !covers(current, domain));
  if (uncovered) return { due: true, reason: 'not_covered', dueAt: now, uncovered };
  return undefined;
}

function covers(cert: Certificate, domain: string): boolean {
  const names = cert.dnsNames.length > 0 ? cert.dnsNames : cert.commonName ? [cert.commonName] : [];
  return names.some((pattern) => coversName(pattern, domain));
}

function renewalPoint({ current, now, renewal, window }: PolicyInput): Decision {
  const cert = current!;
  if (window && window.end > window.start) {
    const dueAt = Math.floor(window.start + (window.end - window.start) * stableFraction(cert.fingerprint));
    return { due: dueAt <= now, reason: 'ari_window', dueAt };
  }
  const dueAt = cert.notAfter - thresholdSeconds(renewal, cert.notAfter - cert.notBefore);
  return { due: dueAt <= now, reason: 'threshold', dueAt };
}

/**
 * RFC 9773 asks for a random time inside the window. Drawn from the certificate's fingerprint, it
 * is random across certificates yet the same on every check, so a daily check cannot keep
 * redrawing until it lands early.
 */
function stableFraction(seed: string): number {
  return crypto.createHash('sha256').update(seed).digest().readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * The fallback rule: a self-signed certificate is installed only when the group has no valid
 * certificate (none, expired, not yet valid), or to refresh a self-signed one that is itself due
 * (expiring, or missing a name). A valid CA certificate is never replaced, whatever failed.
 */
export function mayInstallFallback(current: Certificate | undefined, now: number, reason: DueReason): boolean {
  if (!current || current.notAfter <= now || current.notBefore > now) return true;
  return current.selfSigned && reason !== 'self_signed';
}
