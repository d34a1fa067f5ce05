/**
 * After a reload: probe the group's live endpoints (the exporter's probers: c2s/s2s STARTTLS,
 * direct TLS) until each serves the new leaf, or the timeout passes. `served` when all do,
 * `mismatch` when one still serves another certificate, `unreachable` when the rest could not be
 * probed, `skipped` with probes or verify off or no endpoint. Never throws.
 */
import crypto from 'node:crypto';
import { certificateFromX509 } from '../cert';
import type { Config } from '../config';
import { endpointsOf, isProbed, planProbes, probeOptions, probePlanned, trustStore, type PlannedProbe } from '../sources/live';
import type { Logger } from '../shared/log';
import type { VerifyResult } from '../state/state-types';
import type { CertificateGroup } from './types';

const POLL_MS = 1000;

export interface Verification {
  result: VerifyResult;
  detail: string;
}

export async function verifyServed(
  group: CertificateGroup,
  certificatePem: string,
  config: Config,
  components: ReadonlySet<string>,
  log: Logger,
): Promise<Verification> {
  if (!config.renewal.verify.enabled || !config.probes.enabled)
    return { result: 'skipped', detail: 'verification is off (renewal.verify.enabled / probes.enabled)' };
  const expected = certificateFromX509(new crypto.X509Certificate(certificatePem), 0).fingerprint;
  // A wildcard name has no endpoint of its own: the names it covers are probed where they are watched.
  const found = await Promise.all(group.domains.filter((d) => !d.startsWith('*.')).map((d) => endpointsOf(d, config.probes)));
  const endpoints = found.flatMap((f) => f.endpoints).filter((e) => isProbed(e, components));
  if (endpoints.length === 0) return { result: 'skipped', detail: 'no endpoint to probe (configure probes.endpoints or DNS SRV)' };
  // Every address of every endpoint: a listener left running on one address family serves the old certificate there.
  const planned = await planProbes(endpoints, config.probes);
  let pending = planned;
  const ca = trustStore(config.probes.ca, log);
  const deadline = Date.now() + config.renewal.verify.timeout * 1000;
  let last: Array<{ planned: PlannedProbe; served?: string; error?: string }> = [];
  for (;;) {
    last = await Promise.all(pending.map((p) => probeOnce(p, config, ca)));
    pending = last.filter((r) => r.served !== expected).map((r) => r.planned);
    if (pending.length === 0) return { result: 'served', detail: `every endpoint serves the new certificate (${planned.length} probed)` };
    if (Date.now() + POLL_MS > deadline) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const stale = last.filter((r) => r.served !== undefined && r.served !== expected);
  const where = (rs: typeof last) =>
    rs.map(({ planned: { endpoint: e } }) => `${e.module} ${e.host}:${e.port}${e.address && e.address !== e.host ? ` (${e.address})` : ''}`).join(', ');
  if (stale.length > 0)
    return {
      result: 'mismatch',
      detail: `still serving the previous certificate after ${config.renewal.verify.timeout}s: ${where(stale)} (did the reload reach Prosody?)`,
    };
  return { result: 'unreachable', detail: `could not probe ${where(last)}: ${last.map((r) => r.error).join('; ')}` };
}

async function probeOnce(planned: PlannedProbe, config: Config, ca: string[] | undefined) {
  const { result } = await probePlanned(planned, probeOptions(config.probes, ca, config.probes.timeout * 1000));
  if (!result.ok) return { planned, error: result.message };
  const leaf = result.certificates[0];
  return { planned, ...(leaf ? { served: leaf.fingerprint } : { error: 'no certificate' }) };
}
