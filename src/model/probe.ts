/**
 * The contract of a live probe: which endpoint, which module (service + TLS mode), and what came
 * back (the served chain, or a failure with a reason from one stable list). Plain data.
 */

import type { Certificate } from '../cert';

/** Why a probe failed. A stable contract: metric labels and docs use these. */
export const PROBE_FAILURE_REASONS = [
  'dns',
  'connect',
  'timeout',
  'closed',
  'bad_xml',
  'stream_error',
  'too_large',
  'no_starttls',
  'starttls_refused',
  'tls_handshake',
  'no_certificate',
] as const;
export type ProbeFailureReason = (typeof PROBE_FAILURE_REASONS)[number];

/** c2s / s2s: XMPP STARTTLS; c2s_tls / s2s_tls: XEP-0368 direct TLS; https: a TLS handshake. */
export const PROBE_MODULES = ['c2s', 's2s', 'c2s_tls', 's2s_tls', 'https'] as const;
export type ProbeModule = (typeof PROBE_MODULES)[number];

export interface Endpoint {
  domain: string;
  host: string;
  port: number;
  module: ProbeModule;
}

export interface ProbeOptions {
  timeoutMs: number;
  /** Bytes read before TLS at most (an endless stream is cut off); default 64 KiB. */
  maxFeatureBytes?: number;
  signal?: AbortSignal;
  /** Trust store for judging the chain (PEM); default: node's bundled roots. */
  ca?: Array<string | Buffer>;
}

export type ProbeResult =
  | {
      ok: true;
      endpoint: Endpoint;
      durationSeconds: number;
      tlsVersion: string;
      alpn?: string;
      /** The served chain as DER, leaf first. */
      chain: Buffer[];
      /** The same chain read into our model from the X509 objects TLS already parsed (not parsed twice). */
      certificates: Certificate[];
      authorized: boolean;
      authorizationError?: string;
    }
  | { ok: false; endpoint: Endpoint; durationSeconds: number; reason: ProbeFailureReason; message: string };

/** A probe result with the time it was taken (Unix seconds): what the prober keeps and evaluate judges. */
export interface TimedProbe {
  result: ProbeResult;
  probedAt: number;
}
