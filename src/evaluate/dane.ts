/**
 * Judges an endpoint's TLSA records (looked up at `_PORT._tcp.HOST`) against the chain it served:
 * each record marked usable (DANE-TA or DANE-EE with a known selector and matching type) and
 * matching or not; `match` says whether any usable record matches, and is unset when there is no
 * usable record, so that an endpoint without DANE has no verdict. Pure.
 */
import { daneMatch, isUsableTlsa } from '../cert';
import type { ProbeResult, TlsaLookup, TlsaRecord } from '../model/probe';

export interface DaneReport {
  /** `_PORT._tcp.HOST`. */
  name: string;
  /** false when the TLSA lookup itself failed (SERVFAIL is what a validating resolver answers for a bogus DNSSEC signature). */
  lookupOk: boolean;
  reason?: string;
  message?: string;
  /** The AD bit of the answer: the resolver validated it with DNSSEC. */
  authenticated?: boolean;
  records: Array<TlsaRecord & { usable: boolean; matches: boolean }>;
  /** Whether a usable record matches the served chain; unset without a usable record or without a chain. */
  match?: boolean;
}

export function judgeDane(tlsa: TlsaLookup | undefined, result: ProbeResult, nameCovered: boolean): DaneReport | undefined {
  if (!tlsa) return undefined;
  if (!tlsa.ok) return { name: tlsa.name, lookupOk: false, reason: tlsa.reason, message: tlsa.message, records: [] };
  const chain = result.ok ? result.chain : [];
  const records = tlsa.records.map((r) => ({ ...r, usable: isUsableTlsa(r), matches: chain.length > 0 && daneMatch(r, chain, nameCovered) }));
  const usable = records.filter((r) => r.usable);
  const judged = result.ok && usable.length > 0;
  return { name: tlsa.name, lookupOk: true, authenticated: tlsa.authenticated, records, ...(judged ? { match: usable.some((r) => r.matches) } : {}) };
}
