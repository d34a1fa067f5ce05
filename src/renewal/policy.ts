/**
 * The renewal policy, pure: is a certificate group due, since when, and may we try now?
 * Due at once: no certificate, expired, a staging (test) certificate while no staging issuer is
 * configured, self-signed while a CA issuer is configured, a name of the group not covered.
 * Otherwise due from the renewal point: the earlier of the CA's ARI window (a stable pseudo-random
 * time inside it) and `thresholds.renewal` (days, a share of the lifetime, or auto = 1/3 left, 1/2
 * for lifetimes <= 10 days), as certbot 4.1 does. A threshold at or above the lifetime is capped at
 * half of it (`capped`), so the renewal point never lies before the certificate's issuance.
 * Whether a due group may be tried now: not before its `nextAttempt` (a CA's Retry-After or our
 * backoff), and not sooner after the last CA issuance for the same names than the spacing
 * (`renewal.minSpacing`, at most half that certificate's lifetime); the caller skips both when forced.
 * No I/O, no clock: `now` comes in.
 */
import crypto from 'node:crypto';
import { coversName, type Certificate } from '../cert';
import type { Threshold } from '../config';
import { renewalSeconds, thresholdSeconds } from '../evaluate/thresholds';
import type { GroupState, HoldReason } from '../state/state-types';

import type { RenewalWindow } from './types';

export const DUE_REASONS = ['missing', 'expired', 'staging', 'self_signed', 'not_covered', 'ari_window', 'threshold'] as const;
export type DueReason = (typeof DUE_REASONS)[number];

/** Emergencies (nothing usable in place, or a switch away from a test CA) are never spaced. */
const UNSPACED: ReadonlySet<DueReason> = new Set(['missing', 'expired', 'staging']);

export interface PolicyInput {
  domains: readonly string[];
  /** The leaf of the group's current certificate, if any. */
  current?: Certificate;
  now: number;
  renewal: Threshold;
  /** A CA (ACME) issuer is configured: a self-signed certificate is then a fallback to replace. */
  caConfigured: boolean;
  /** The certificate in place is a staging one and no configured CA issuer is: replace it now. */
  stagingInPlace?: boolean;
  window?: RenewalWindow;
  state?: Pick<GroupState, 'nextAttempt' | 'lastIssued' | 'issuedDomains' | 'notAfter'>;
  /** renewal.minSpacing, seconds; unset: no spacing. */
  minSpacing?: number;
}

export interface Decision {
  due: boolean;
  /** Why it is due, or (not due) what the renewal point was computed from. */
  reason: DueReason;
  /** Unix seconds at which the group is (or becomes) due. */
  dueAt: number;
  /** Set when due but held back (Retry-After or backoff) until then. */
  waitUntil?: number;
  /** Set when due but the last CA issuance is too recent (the spacing rule): until then. */
  hold?: { reason: HoldReason; until: number };
  /** The name the certificate does not cover (reason not_covered). */
  uncovered?: string;
  /** The renewal threshold reached the lifetime and was capped (seconds before expiry). */
  capped?: { configured: number; used: number };
}

export function decide(input: PolicyInput): Decision {
  const immediate = dueAtOnce(input);
  const decision: Decision = immediate ?? renewalPoint(input);
  if (!decision.due) return decision;
  const wait = input.state?.nextAttempt;
  if (wait !== undefined && wait > input.now) decision.waitUntil = wait;
  const spaced = spacingUntil(input, decision.reason);
  if (spaced !== undefined && spaced > input.now) decision.hold = { reason: 'spacing', until: spaced };
  return decision;
}

function dueAtOnce({ domains, current, now, caConfigured, stagingInPlace }: PolicyInput): Decision | undefined {
  if (!current) return { due: true, reason: 'missing', dueAt: now };
  if (current.notAfter <= now) return { due: true, reason: 'expired', dueAt: current.notAfter };
  if (stagingInPlace) return { due: true, reason: 'staging', dueAt: now };
  if (current.selfSigned && caConfigured) return { due: true, reason: 'self_signed', dueAt: now };
  const uncovered = domains.find((domain) => !covers(current, domain));
  if (uncovered) return { due: true, reason: 'not_covered', dueAt: now, uncovered };
  return undefined;
}

export function covers(cert: Certificate, domain: string): boolean {
  const names = cert.dnsNames.length > 0 ? cert.dnsNames : cert.commonName ? [cert.commonName] : [];
  return names.some((pattern) => coversName(pattern, domain));
}

/** The earlier of the threshold's point and the ARI window's (certbot 4.1: renew when either says so). */
function renewalPoint({ current, now, renewal, window }: PolicyInput): Decision {
  const cert = current!;
  const lifetime = cert.notAfter - cert.notBefore;
  const threshold = renewalSeconds(renewal, lifetime);
  const byThreshold: Decision = { due: false, reason: 'threshold', dueAt: cert.notAfter - threshold.seconds };
  if (threshold.capped) byThreshold.capped = { configured: thresholdSeconds(renewal, lifetime), used: threshold.seconds };
  let decision = byThreshold;
  if (window && window.end > window.start) {
    const ariAt = Math.floor(window.start + (window.end - window.start) * stableFraction(cert.fingerprint));
    if (ariAt < byThreshold.dueAt) decision = { ...byThreshold, reason: 'ari_window', dueAt: ariAt };
  }
  decision.due = decision.dueAt <= now;
  return decision;
}

/**
 * The earliest time the group may be issued again by a CA: the last CA issuance for the same names
 * plus `minSpacing`, but never later than half that certificate's lifetime after it (a short-lived
 * certificate must still be renewable before it expires). Undefined when there is nothing to space.
 */
function spacingUntil({ state, minSpacing, domains }: PolicyInput, reason: DueReason): number | undefined {
  if (!minSpacing || UNSPACED.has(reason) || state?.lastIssued === undefined) return undefined;
  if (!sameNames(state.issuedDomains ?? [], domains)) return undefined; // the group changed: a new set of names
  const lifetime = state.notAfter !== undefined ? state.notAfter - state.lastIssued : Infinity;
  return state.lastIssued + Math.max(0, Math.min(minSpacing, lifetime / 2));
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return a.length > 0 && set.size === new Set(b).size && b.every((n) => set.has(n));
}

/**
 * RFC 9773 asks for a random time inside the window. Drawn from the certificate's fingerprint, it
 * is random across certificates yet the same on every check, so a daily check cannot keep
 * redrawing until it lands early.
 */
function stableFraction(seed: string): number {
  return crypto.createHash('sha256').update(seed).digest().readUInt32BE(0) / 0x1_0000_0000;
}

/** A certificate Prosody may use for a name of the group, and whether its chain verifies (trust.ts). */
export interface InPlace {
  leaf: Certificate;
  trusted: boolean;
}

/**
 * The fallback rule: a self-signed certificate is installed only when Prosody would have no valid,
 * trusted certificate for the group at all (`inPlace`: every file it may use for any of the
 * group's names, in any layout). A valid certificate that verifies is never replaced by a
 * self-signed one, whatever failed. One that is valid but verifies nowhere (self-signed, a staging
 * or unknown CA) is replaced only when it is due by its own dates or names, not for what it is.
 */
export function mayInstallFallback(inPlace: readonly InPlace[], now: number, reason: DueReason): boolean {
  const valid = inPlace.filter((c) => c.leaf.notBefore <= now && now < c.leaf.notAfter);
  if (valid.some((c) => c.trusted)) return false;
  if (valid.length === 0) return true;
  return reason !== 'self_signed' && reason !== 'staging';
}
