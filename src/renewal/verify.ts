/**
 * After a reload: probe the group's live endpoints (the exporter's probers: c2s/s2s STARTTLS,
 * direct TLS) at every address of their hosts until each serves the new leaf, or the timeout
 * passes. `served` when all do, `mismatch` when one still serves another certificate,
 * `unreachable` when the rest could not be probed, `skipped` with probes or verify off or no
 * endpoint. Says once what it probes and for how long at most. Hosts are resolved once, when
 * verification starts: a host that does not resolve then (no such host) is not polled again,
 * since waiting will not create it, so it is unreachable at once and, when nothing else is left to
 * wait for, verification ends early. Stops polling when `signal` aborts (shutdown). Never throws.
 */
import crypto from 'node:crypto';
import { certificateFromX509 } from '../cert';
import type { Config } from '../config';
import { endpointsOf, isProbed, planProbes, probeOptions, probePlanned, trustStore, type PlannedProbe } from '../sources/live';
import type { Endpoint } from '../model/probe';
import type { Logger } from '../shared/log';
import type { VerifyResult } from '../state/state-types';
import type { CertificateGroup } from './types';

const POLL_MS = 1000;

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
  planned: PlannedProbe;
  served?: string;
  error?: string;
  /** Waiting cannot help: the host did not resolve when verification started. */
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
  const endpoints = found.flatMap((f) => f.endpoints).filter((e) => isProbed(e, components));
  if (endpoints.length === 0) return { result: 'skipped', detail: 'no endpoint to probe (configure probes.endpoints or DNS SRV)' };
  const timeout = config.renewal.verify.timeout;
  // Every address of every endpoint: a listener left running on one address family serves the old certificate there.
  const all = await planProbes(endpoints, config.probes, () => options.signal?.aborted ?? false);
  const targets = all.map((p) => p.endpoint);
  options.say?.(
    `verify: probing ${targets.length} endpoint${targets.length === 1 ? '' : 's'} (${where(targets)}) for the new certificate, for at most ${timeout}s`,
  );
  const ca = trustStore(config.probes.ca, log);
  const deadline = Date.now() + timeout * 1000;
  const settled = new Map<PlannedProbe, Probed>(); // served, or no such host
  let pending = all;
  let last: Probed[] = [];
  for (;;) {
    last = await Promise.all(pending.map((planned) => probeOnce(planned, config, ca, options.signal)));
    for (const r of last) if (r.served === expected || r.final) settled.set(r.planned, r);
    pending = last.filter((r) => !settled.has(r.planned)).map((r) => r.planned);
    if (pending.length === 0 || options.signal?.aborted || Date.now() + POLL_MS > deadline) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const results = all.map((p) => settled.get(p) ?? last.find((r) => r.planned === p)!);
  const stale = results.filter((r) => r.served !== undefined && r.served !== expected);
  const failed = results.filter((r) => r.served === undefined);
  if (stale.length === 0 && failed.length === 0) return { result: 'served', detail: `every endpoint serves the new certificate (${all.length} probed)` };
  if (stale.length > 0) {
    const after = options.signal?.aborted && pending.length > 0 ? 'when the worker stopped' : `after ${timeout}s`;
    return {
      result: 'mismatch',
      detail: `still serving the previous certificate ${after}: ${where(stale.map((r) => r.planned.endpoint))} (did the reload reach Prosody?)`,
    };
  }
  const early = failed.every((r) => r.final) ? ' (no such host: not polled for the whole window)' : '';
  return {
    result: 'unreachable',
    detail: `could not probe ${where(failed.map((r) => r.planned.endpoint))}${early}: ${failed.map((r) => r.error).join('; ')}`,
  };
}

const where = (endpoints: readonly Endpoint[]) =>
  endpoints.map((e) => `${e.module} ${e.host}:${e.port}${e.address && e.address !== e.host ? ` (${e.address})` : ''}`).join(', ');

async function probeOnce(planned: PlannedProbe, config: Config, ca: string[] | undefined, signal: AbortSignal | undefined): Promise<Probed> {
  // A host that did not resolve was failed when planned; the plan is not made again while polling.
  if (planned.failure) return { planned, error: planned.failure.ok ? 'no certificate' : planned.failure.message, final: true };
  const { result } = await probePlanned(planned, probeOptions(config.probes, ca, config.probes.timeout * 1000, signal));
  if (!result.ok) return { planned, error: result.message };
  const leaf = result.certificates[0];
  return { planned, ...(leaf ? { served: leaf.fingerprint } : { error: 'no certificate' }) };
}
