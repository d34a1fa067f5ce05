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
  /** The IP address connected to (one of the host's A/AAAA records, or the host itself when it is one); unset before resolution. */
  address?: string;
}

/** Why a DNS lookup failed (SRV, A/AAAA, TLSA). A stable contract: metric labels use these. "No such name" is an answer, not a failure. */
export const DNS_FAILURE_REASONS = ['servfail', 'refused', 'timeout', 'bad_response', 'bad_name', 'bad_server', 'error'] as const;
export type DnsFailureReason = (typeof DNS_FAILURE_REASONS)[number];

/** The four SRV services (RFC 6120 3.2.1, XEP-0368) as the `service` label names them, by module. */
export const SRV_SERVICE_OF_MODULE = { c2s: 'xmpp-client', c2s_tls: 'xmpps-client', s2s: 'xmpp-server', s2s_tls: 'xmpps-server' } as const;
export type SrvService = (typeof SRV_SERVICE_OF_MODULE)[keyof typeof SRV_SERVICE_OF_MODULE];

/**
 * One SRV lookup of a domain and what was done with it. `records`: the targets are probed;
 * `no_records` / `nxdomain`: the RFC 6120 fallback (the domain on 5222 / 5269) is; `not_offered`:
 * a single "." target, nothing is; `failed`: DNS gave no answer, and the targets of the last answer
 * are kept (`kept`), if there was one.
 */
export interface SrvLookup {
  domain: string;
  service: SrvService;
  /** The name looked up, e.g. `_xmpp-client._tcp.example.org`. */
  name: string;
  answer: 'records' | 'no_records' | 'nxdomain' | 'not_offered' | 'failed';
  reason?: DnsFailureReason;
  message?: string;
  /** When DNS last answered this name (Unix seconds): the endpoints probed come from that answer. Unset: never answered. */
  answeredAt?: number;
  /** True when the lookup failed and the last answer's endpoints are probed instead. */
  kept: boolean;
}

/** One TLSA record (RFC 6698): certificate usage, selector, matching type, and the association data in lower-case hex. */
export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  data: string;
}

/** The TLSA lookup of an endpoint at `_PORT._tcp.HOST` (RFC 7673: the SRV target). */
export type TlsaLookup =
  | { ok: true; name: string; records: TlsaRecord[]; /** The AD bit: the resolver validated the answer with DNSSEC. */ authenticated: boolean }
  | { ok: false; name: string; reason: DnsFailureReason; message: string };

/** What the XMPP stream offered: SASL mechanisms before TLS (STARTTLS only) and, after TLS, the restarted stream's features. */
export interface StreamFeatures {
  /** Mechanisms offered before TLS; PLAIN here sends passwords in the clear. Empty for direct TLS. */
  mechanismsBeforeTls: string[];
  afterTls: { ok: true; mechanisms: string[]; dialback: boolean } | { ok: false; reason: ProbeFailureReason; message: string };
}

export interface ProbeOptions {
  timeoutMs: number;
  /** Bytes read before TLS at most (an endless stream is cut off); default 64 KiB. */
  maxFeatureBytes?: number;
  signal?: AbortSignal;
  /** Trust store for judging the chain (PEM); default: node's bundled roots. */
  ca?: Array<string | Buffer>;
  /** The `from` of s2s stream headers (`probes.s2sFrom`); unset: none. */
  s2sFrom?: string;
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
      /** XMPP modules only: what the stream offered before and after TLS. */
      features?: StreamFeatures;
    }
  | { ok: false; endpoint: Endpoint; durationSeconds: number; reason: ProbeFailureReason; message: string };

export type ProbeSuccess = Extract<ProbeResult, { ok: true }>;

/** A probe result with the time it was taken (Unix seconds): what the prober keeps and evaluate judges. */
export interface TimedProbe {
  result: ProbeResult;
  probedAt: number;
  /** The endpoint's TLSA lookup; unset when its host is an IP address. */
  tlsa?: TlsaLookup;
}
