/**
 * One entry point for every live probe, and the one map from module to prober (in the style of
 * blackbox_exporter's prober registry): STARTTLS for c2s/s2s, a direct handshake for XEP-0368
 * direct TLS (both then read the stream's features over TLS) and https. Never throws; every
 * socket is closed when the result is known.
 */
import type { Endpoint, ProbeModule, ProbeOptions, ProbeResult } from '../model/probe';
import { Attempt, handshake } from './tls';
import { probeDirectTls, probeStarttls } from './xmpp';

const PROBERS: Record<ProbeModule, (attempt: Attempt) => Promise<ProbeResult>> = {
  c2s: probeStarttls,
  s2s: probeStarttls,
  c2s_tls: probeDirectTls,
  s2s_tls: probeDirectTls,
  https: (attempt) => handshake(attempt),
};

export function probeEndpoint(endpoint: Endpoint, options: ProbeOptions): Promise<ProbeResult> {
  const attempt = new Attempt(endpoint, options);
  return attempt.run(() => PROBERS[endpoint.module](attempt).catch((err: unknown) => attempt.fail('connect', String(err))));
}
