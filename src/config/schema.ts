/**
 * The one config schema: every key, its type and its default live here and nowhere else.
 * Strict: an unknown key is an error. Paths are kept relative here; `load.ts` resolves them.
 * docs/config.md documents each key; keep the two in step.
 */
import { z } from 'zod';
import { notifySchema } from './notify-schema';
import { renewalSchema } from './renewal-schema';
import { domainName, duration, flag, list, listen, section, size, text, threshold, wholeNumber } from './fields';

/** Not on Prometheus's default port allocation list (9100-9999 is full; see docs/config.md). */
export const DEFAULT_PORT = 10522;

/** The severity of a certificate file that serves no watched domain: its own alert, or none. */
export const UNUSED_FILE_SEVERITIES = ['warning', 'none'] as const;

/** The exporter's other endpoints (http/app.ts): the metrics path may not hide one of them. */
const RESERVED_PATHS = ['/', '/status', '/probe', '/healthz', '/readyz'];

const thresholdSet = section({
  warning: threshold(false).optional(),
  critical: threshold(false).optional(),
  renewal: threshold(true).optional(),
});

const PROBE_MODULE_NAMES = ['c2s', 's2s', 'c2s_tls', 's2s_tls', 'https'] as const;
const probeModule = () => z.enum(PROBE_MODULE_NAMES, { error: (iss) => `expected one of ${PROBE_MODULE_NAMES.join(', ')}, got ${JSON.stringify(iss.input)}` });

/** An endpoint to probe besides (or instead of) what DNS SRV says; `service` + `tls` name the module. */
const probeEndpoint = section({
  domain: domainName(),
  host: text(),
  port: wholeNumber(1).refine((n) => n <= 65535, { error: 'expected a port from 1 to 65535' }),
  service: z.enum(['c2s', 's2s', 'https'], { error: (iss) => `expected c2s, s2s or https, got ${JSON.stringify(iss.input)}` }),
  tls: z.enum(['starttls', 'direct'], { error: (iss) => `expected starttls or direct, got ${JSON.stringify(iss.input)}` }).default('starttls'),
});

export const configSchema = section({
  prosody: section({
    /** prosody.cfg.lua; null: do not read one (only `domains` and `files` are watched). */
    config: text().nullable().default('/etc/prosody/prosody.cfg.lua'),
    /** Certificate directory; unset: Prosody's own `certificates` option, else `certs` beside the config. */
    certs: text().optional(),
  }).prefault({}),
  domains: list(domainName()).default([]),
  files: list(text()).default([]),
  thresholds: section({
    warning: threshold(false).default({ kind: 'percent', percent: 20 }),
    critical: threshold(false).default({ kind: 'percent', percent: 10 }),
    renewal: threshold(true).default({ kind: 'auto' }),
    overrides: z.record(z.string(), thresholdSet).default({}),
    /** What an expired or not yet valid file that serves no watched domain counts as (its own alert's severity). */
    unusedFiles: z.enum(UNUSED_FILE_SEVERITIES, { error: (iss) => `expected warning or none, got ${JSON.stringify(iss.input)}` }).default('warning'),
  }).prefault({}),
  scan: section({
    interval: duration(1).default(60),
    /** A scan running longer is reported stalled and no longer waited for. */
    timeout: duration(1).default(300),
    maxFileSize: size().default(1024 * 1024),
  }).prefault({}),
  probes: section({
    /** Probe the certificates Prosody serves (c2s/s2s STARTTLS, direct TLS, https). */
    enabled: flag().default(true),
    interval: duration(10).default(300),
    timeout: duration(1).default(10),
    concurrency: wholeNumber(1).default(8),
    /** Modules probed for every domain through DNS SRV (and the RFC 6120 fallback). */
    modules: list(probeModule()).default(['c2s', 's2s', 'c2s_tls', 's2s_tls']),
    /** false: only `endpoints` are probed, no DNS SRV lookups. */
    srv: flag().default(true),
    endpoints: list(probeEndpoint).default([]),
    dns: section({ servers: list(text()).default([]) }).prefault({}),
    /** Address families probed: every A (4) and AAAA (6) address of each target gets its own probe. */
    ipVersions: list(z.union([z.literal(4), z.literal(6)], { error: (iss) => `expected 4 or 6, got ${JSON.stringify(iss.input)}` }))
      .min(1, { error: 'expected at least one of 4, 6' })
      .default([4, 6]),
    /** The `from` of s2s stream headers (some servers refuse a stream without one); unset: none. */
    s2sFrom: domainName().optional(),
    /** Extra CA certificate files trusted besides the system roots (a private CA, Pebble's). */
    ca: list(text()).default([]),
    /** Domain patterns (`*.example.org`) /probe accepts besides the watched domains. */
    allow: list(text()).default([]),
  }).prefault({}),
  server: section({
    listen: listen().default({ host: '', port: DEFAULT_PORT }),
    webConfig: text().nullable().default(null),
    /** Where the metrics are served (`--web.telemetry-path`), as the Prometheus exporters call it. */
    telemetryPath: text()
      .refine((p) => /^\/[^?#\s]*$/.test(p), { error: 'expected a path starting with / (e.g. /metrics), without ? or #' })
      .refine((p) => !RESERVED_PATHS.includes(p.replace(/\/+$/, '') || '/'), { error: `expected a path other than ${RESERVED_PATHS.join(', ')}` })
      .default('/metrics'),
  }).prefault({}),
  logging: section({
    level: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
        error: (iss) => `expected one of trace, debug, info, warn, error, fatal, silent, got ${JSON.stringify(iss.input)}`,
      })
      .default('info'),
    /** json for services (one object per line), logfmt for people (time, level, msg, then fields). */
    format: z.enum(['json', 'logfmt'], { error: (iss) => `expected json or logfmt, got ${JSON.stringify(iss.input)}` }).default('json'),
    alertLog: text().nullable().default(null),
  }).prefault({}),
  renewal: renewalSchema.prefault({}),
  notify: notifySchema.prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ThresholdSet = z.output<typeof thresholdSet>;
