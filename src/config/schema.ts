/**
 * The one config schema: every key, its type and its default live here and nowhere else.
 * Strict: an unknown key is an error. Paths are kept relative here; `load.ts` resolves them.
 * docs/config.md documents each key; keep the two in step.
 */
import { z } from 'zod';
import { domainName, duration, email, flag, list, listen, section, size, text, threshold, url, wholeNumber } from './fields';

/** Not on Prometheus's default port allocation list (9100-9999 is full; see docs/config.md). */
export const DEFAULT_PORT = 10522;

const thresholdSet = section({
  warning: threshold(false).optional(),
  critical: threshold(false).optional(),
  renewal: threshold(true).optional(),
});

const selfSignedIssuer = section({
  type: z.literal('selfsigned', { error: (iss) => `expected "selfsigned", got ${JSON.stringify(iss.input)}` }),
  lifetime: duration(3600).default(90 * 86400),
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
  }).prefault({}),
  scan: section({
    interval: duration(1).default(60),
    maxFileSize: size().default(1024 * 1024),
  }).prefault({}),
  server: section({
    listen: listen().default({ host: '', port: DEFAULT_PORT }),
    webConfig: text().nullable().default(null),
  }).prefault({}),
  logging: section({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
      error: (iss) => `expected one of trace, debug, info, warn, error, fatal, silent, got ${JSON.stringify(iss.input)}`,
    }).default('info'),
    alertLog: text().nullable().default(null),
  }).prefault({}),
  renewal: section({
    checkInterval: duration(60).default(86400),
    stateDir: text().default('/var/lib/xmpp-cert'),
    testMode: flag().default(false),
    email: email().optional(),
    retry: section({
      count: wholeNumber(0).default(3),
      delay: duration(0).default(300),
    }).prefault({}),
    issuers: list(selfSignedIssuer).default([{ type: 'selfsigned', lifetime: 90 * 86400 }]),
  }).prefault({}),
  notify: section({
    email: section({ to: email().optional() }).prefault({}),
    webhooks: list(section({ url: url() })).default([]),
  }).prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ThresholdSet = z.output<typeof thresholdSet>;
