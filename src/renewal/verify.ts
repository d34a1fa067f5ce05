/**
 * After a reload: probe the group's live endpoints (the exporter's probers: c2s/s2s STARTTLS,
 * direct TLS) until each serves the new leaf, or the timeout passes. `served` when all do,
 * `mismatch` when one still serves another certificate, `unreachable` when the rest could not be
 * probed, `skipped` with probes or verify off or no endpoint. Says once what it probes and for how
 * long at most. An endpoint whose name does not exist (no such host: the SRV target, or the
 * domain itself when it has no SRV record) is not polled again: waiting will not create it, so it
 * is unreachable at once and, when nothing else is left to wait for, verification ends early.
 * Stops polling when `signal` aborts (shutdown). Never throws.
 */
import crypto from 'node:crypto';
import { certificateFromX509 } from '../cert';
import type { Config } from '../config';
import { endpointsOf, isProbed, trustStore } from '../sources/live';
import { probeEndpoint } from '../sources/probe';
import type { Endpoint } from '../model/probe';
import type { Logger } from '../shared/log';
import type { VerifyResult } from '../state/state-types';
import type { CertificateGroup } from './types';

const POLL_MS = 1000;

/** getaddrinfo's and c-ares' "this name does not exist" (not: the resolver could not be asked). */
const NO_SUCH_NAME = /\b(ENOTFOUND|ENODATA|EAI_NONAME)\b/;

export interface Verification {
  result: VerifyResult;
  detail: string;
}

export interface VerifyOptions {
  /** The one line that says what is probed and for how long at most. */
  say?: (text: string) => void;
  signal?: AbortSignal;
}

interface Probed {
  endpoint: Endpoint;
  served?: string;
  error?: string;
  /** Waiting cannot help (no such host). */
  final?: boolean;
}

export async function verifyServed(
  group: CertificateGroup,
  certificatePem: string,
  config: Config,
  components: ReadonlySet<string>,
  log: Logger,
  options: VerifyOptions = {},
): Promise<Verification> {
  if (!config.renewal.verify.enabled || !config.probes.enabled)
    return { result: 'skipped', detail: 'verification is off (renewal.verify.enabled / probes.enabled)' };
  const expected = certificateFromX509(new crypto.X509Certificate(certificatePem), 0).fingerprint;
  // A wildcard name has no endpoint of its own: the names it covers are probed where they are watched.
  const found = await Promise.all(group.domains.filter((d) => !d.startsWith('*.')).map((d) => endpointsOf(d, config.probes)));
  const all = found.flatMap((f) => f.endpoints).filter((e) => isProbed(e, components));
  if (all.length === 0) return { result: 'skipped', detail: 'no endpoint to probe (configure probes.endpoints or DNS SRV)' };
  const timeout = config.renewal.verify.timeout;
  options.say?.(`verify: probing ${all.length} endpoint${all.length === 1 ? '' : 's'} (${where(all)}) for the new certificate, for at most ${timeout}s`);
  const ca = trustStore(config.probes.ca, log);
  const deadline = Date.now() + timeout * 1000;
  const settled = new Map<Endpoint, Probed>(); // served, or no such host
  let pending = all;
  let last: Probed[] = [];
  for (;;) {
    last = await Promise.all(pending.map((endpoint) => probeOnce(endpoint, config.probes.timeout, ca, options.signal)));
    for (const r of last) if (r.served === expected || r.final) settled.set(r.endpoint, r);
    pending = last.filter((r) => !settled.has(r.endpoint)).map((r) => r.endpoint);
    if (pending.length === 0 || options.signal?.aborted || Date.now() + POLL_MS > deadline) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const results = all.map((e) => settled.get(e) ?? last.find((r) => r.endpoint === e)!);
  const stale = results.filter((r) => r.served !== undefined && r.served !== expected);
  const failed = results.filter((r) => r.served === undefined);
  if (stale.length === 0 && failed.length === 0) return { result: 'served', detail: `every endpoint serves the new certificate (${all.length} probed)` };
  if (stale.length > 0) {
    const after = options.signal?.aborted && pending.length > 0 ? 'when the worker stopped' : `after ${timeout}s`;
    return {
      result: 'mismatch',
      detail: `still serving the previous certificate ${after}: ${where(stale.map((r) => r.endpoint))} (did the reload reach Prosody?)`,
    };
  }
  const early = failed.every((r) => r.final) ? ' (no such host: not polled for the whole window)' : '';
  return { result: 'unreachable', detail: `could not probe ${where(failed.map((r) => r.endpoint))}${early}: ${failed.map((r) => r.error).join('; ')}` };
}

const where = (endpoints: readonly Endpoint[]) => endpoints.map((e) => `${e.module} ${e.host}:${e.port}`).join(', ');

async function probeOnce(endpoint: Endpoint, timeoutSeconds: number, ca: string[] | undefined, signal: AbortSignal | undefined): Promise<Probed> {
  const result = await probeEndpoint(endpoint, { timeoutMs: timeoutSeconds * 1000, ...(ca ? { ca } : {}), ...(signal ? { signal } : {}) });
  if (!result.ok) return { endpoint, error: result.message, ...(result.reason === 'dns' && NO_SUCH_NAME.test(result.message) ? { final: true } : {}) };
  const leaf = result.certificates[0];
  return { endpoint, ...(leaf ? { served: leaf.fingerprint } : { error: 'no certificate' }) };
}
