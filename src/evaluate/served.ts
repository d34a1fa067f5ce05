/**
 * Judges what a live endpoint served: the chain even when it is expired, untrusted or for the
 * wrong name, then separately: trusted (the prober's verdict against system roots plus probes.ca),
 * name match for the XMPP domain (DNS-ID, SRV-ID, XmppAddr), expiry status, TLS version, and
 * whether the served leaf is the certificate on disk that Prosody should be using (SHA-256).
 * Pure: a function of (probe result, the domain's disk report, thresholds, now).
 */
import { xmppNameMatch } from '../cert';
import type { TlsService } from '../model/inventory';
import type { Endpoint, ProbeModule, TimedProbe } from '../model/probe';
import type { DomainReport, ServedReport } from './report-types';
import { certificateStatus } from './status';
import { resolveThresholds, thresholdsFor } from './thresholds';
import type { Config } from '../config';
import { judgeDane } from './dane';

/** The `source` label of a live endpoint: service and TLS mode, e.g. `c2s_starttls`. */
export const SOURCE_OF_MODULE: Record<ProbeModule, string> = {
  c2s: 'c2s_starttls',
  s2s: 's2s_starttls',
  c2s_tls: 'c2s_tls',
  s2s_tls: 's2s_tls',
  https: 'https',
};

const SERVICE_OF_MODULE = { c2s: 'c2s', s2s: 's2s', c2s_tls: 'c2s', s2s_tls: 's2s', https: 'https' } as const;

/** Prosody's services a probe module can reach: a direct-TLS c2s port is c2s_direct_tls or the older legacy_ssl. */
const SERVICES_OF_MODULE: Record<ProbeModule, readonly TlsService[]> = {
  c2s: ['c2s'],
  s2s: ['s2s'],
  c2s_tls: ['c2s_direct_tls', 'legacy_ssl'],
  s2s_tls: ['s2s_direct_tls'],
  https: ['https'],
};

/**
 * The leaves Prosody may serve at this endpoint: the file of the service listening on its port
 * (else of the module's service, else the domain's main file); several when the lookup is ambiguous.
 */
function diskFingerprints(disk: DomainReport | undefined, endpoint: Endpoint): string[] {
  if (!disk) return [];
  const wanted = SERVICES_OF_MODULE[endpoint.module];
  const candidates = disk.services.filter((s) => wanted.includes(s.service));
  const service = candidates.find((s) => s.ports.includes(endpoint.port)) ?? candidates[0];
  if (service) return service.fingerprints;
  return disk.leaf ? [disk.leaf.fingerprint] : [];
}

export function judgeServed(probe: TimedProbe, disk: DomainReport | undefined, thresholds: Config['thresholds'], now: number): ServedReport {
  const { result, probedAt } = probe;
  const { endpoint } = result;
  const base = {
    domain: endpoint.domain,
    endpoint,
    source: SOURCE_OF_MODULE[endpoint.module],
    target: `${endpoint.host}:${endpoint.port}`,
    ...(endpoint.address ? { address: endpoint.address } : {}),
    probedAt,
    durationSeconds: result.durationSeconds,
  };
  if (!result.ok) {
    const dane = judgeDane(probe.tlsa, result, false);
    return {
      ...base,
      ok: false,
      reason: result.reason,
      message: result.message,
      chain: [],
      ...(dane ? { dane } : {}),
      status: 'error',
      detail: `${result.reason}: ${result.message}`,
    };
  }

  const chain = result.certificates;
  const leaf = chain[0];
  const matchedBy = leaf && xmppNameMatch(leaf, endpoint.domain, SERVICE_OF_MODULE[endpoint.module]);
  const expected = diskFingerprints(disk, endpoint);
  const matchesDisk = expected.length > 0 ? expected.includes(leaf?.fingerprint ?? '') : undefined;
  const dane = judgeDane(probe.tlsa, result, matchedBy !== undefined);
  const status = leaf ? certificateStatus(leaf, resolveThresholds(thresholdsFor(endpoint.domain, thresholds), leaf.notAfter - leaf.notBefore), now) : 'error';
  const problems = [
    ...(result.authorized ? [] : [`not trusted (${result.authorizationError ?? 'unknown reason'})`]),
    ...(matchedBy ? [] : [`does not cover ${endpoint.domain}`]),
    ...(matchesDisk === false ? ['served != on disk (reload Prosody)'] : []),
    ...(dane?.match === false ? [`no TLSA record at ${dane.name} matches`] : []),
    ...(status === 'expired' ? ['expired'] : []),
  ];
  return {
    ...base,
    ok: true,
    chain,
    trusted: result.authorized,
    ...(result.authorizationError ? { trustError: result.authorizationError } : {}),
    ...(matchedBy ? { matchedBy } : {}),
    tlsVersion: result.tlsVersion,
    ...(matchesDisk === undefined ? {} : { matchesDisk }),
    ...(dane ? { dane } : {}),
    ...(result.features ? { features: result.features } : {}),
    status,
    detail: problems.length > 0 ? problems.join('; ') : `${result.tlsVersion}, trusted, ${matchedBy}`,
  };
}
