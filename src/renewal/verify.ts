/**
 * After a reload: probe the group's live endpoints (the exporter's probers: c2s/s2s STARTTLS,
 * direct TLS) until each serves the new leaf, or the timeout passes. `served` when all do,
 * `mismatch` when one still serves another certificate, `unreachable` when the rest could not be
 * probed, `skipped` with probes or verify off or no endpoint. Never throws.
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
  let pending = found.flatMap((f) => f.endpoints).filter((e) => isProbed(e, components));
  if (pending.length === 0) return { result: 'skipped', detail: 'no endpoint to probe (configure probes.endpoints or DNS SRV)' };
  const ca = trustStore(config.probes.ca, log);
  const deadline = Date.now() + config.renewal.verify.timeout * 1000;
  let last: Array<{ endpoint: Endpoint; served?: string; error?: string }> = [];
  for (;;) {
    last = await Promise.all(pending.map((endpoint) => probeOnce(endpoint, config.probes.timeout, ca)));
    pending = last.filter((r) => r.served !== expected).map((r) => r.endpoint);
    if (pending.length === 0)
      return { result: 'served', detail: `every endpoint serves the new certificate (${found.flatMap((f) => f.endpoints).length} probed)` };
    if (Date.now() + POLL_MS > deadline) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const stale = last.filter((r) => r.served !== undefined && r.served !== expected);
  const where = (rs: typeof last) => rs.map((r) => `${r.endpoint.module} ${r.endpoint.host}:${r.endpoint.port}`).join(', ');
  if (stale.length > 0)
    return {
      result: 'mismatch',
      detail: `still serving the previous certificate after ${config.renewal.verify.timeout}s: ${where(stale)} (did the reload reach Prosody?)`,
    };
  return { result: 'unreachable', detail: `could not probe ${where(last)}: ${last.map((r) => r.error).join('; ')}` };
}

async function probeOnce(endpoint: Endpoint, timeoutSeconds: number, ca: string[] | undefined) {
  const result = await probeEndpoint(endpoint, { timeoutMs: timeoutSeconds * 1000, ...(ca ? { ca } : {}) });
  if (!result.ok) return { endpoint, error: result.message };
  const leaf = result.certificates[0];
  return { endpoint, ...(leaf ? { served: leaf.fingerprint } : { error: 'no certificate' }) };
}
