/**
 * Builds the effective config: schema defaults <- YAML file <- cert-monitor.conf <- environment
 * <- command-line flags, validated once by the schema. Relative paths in the YAML file are
 * resolved against the file's directory (as Prometheus does), or the working directory without a
 * file; a relative path given as a flag against the working directory, as any command line does.
 * Throws ConfigError listing every problem with its key (an unknown key with the nearest known
 * one); never returns a half-valid config, and never quotes a secret field's value
 * (config/secret.ts) in it. Tells the logger the secrets it read, so no log line of the process
 * shows them.
 */
import path from 'node:path';
import { resolveNotifyPaths } from './notify-schema';
import type { IssuerConfig, RenewalConfig, SingleChallengeConfig } from './renewal-schema';
import YAML from 'yaml';
import type { z } from 'zod';
import { ConfigError, messageOf } from '../shared/errors';
import { CONFIG_SECRETS } from './redact';
import { readRegularFile } from '../shared/safe-read';
import { configSchema, type Config } from './schema';
import { protectConfigSecrets, secretIssue } from './secret';
import { applySeedNames, parseLegacyConf } from './seed-names';
import { suggestKey } from './suggest';

/** The command-line flag behind each key set by flags, for "(from flag ...)" in errors. */
const FLAG_OF_KEY: Record<string, string> = {
  'server.listen': '--web.listen-address',
  'server.webConfig': '--web.config.file',
  'server.telemetryPath': '--web.telemetry-path',
  'logging.level': '--log.level',
  'logging.format': '--log.format',
  'thresholds.warning': '--warning',
  'thresholds.critical': '--critical',
  'probes.timeout': '--timeout',
};

/** Keys holding a path: given as a flag, relative to the working directory. */
const PATH_KEYS = new Set(['server.webConfig', 'prosody.config', 'prosody.certs', 'logging.alertLog', 'renewal.stateDir']);

export interface LoadOptions {
  /** YAML config file (`--config` or XMPP_CERT_CONFIG). */
  file?: string | undefined;
  /** The seed's shell-style KEY=VALUE file (`--legacy-conf`). */
  legacyConf?: string | undefined;
  /** Defaults to process.env; tests pass their own. */
  env?: Record<string, string | undefined>;
  /** Command-line flags, by config key (e.g. `server.listen`), applied last. */
  flags?: Record<string, string | undefined>;
}

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the YAML file, when one was read. */
  file?: string;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const file = options.file ? path.resolve(options.file) : undefined;
  const raw = file ? readYaml(file) : {};
  const origins = new Map<string, string>();

  if (options.legacyConf) {
    const legacyPath = path.resolve(options.legacyConf);
    const { vars, lines } = parseLegacyConf(readText(legacyPath, 'legacy config'), legacyPath);
    mergeOrigins(
      origins,
      applySeedNames(raw, vars, (name) => `${legacyPath}:${lines[name]} ${name}`),
    );
  }
  mergeOrigins(
    origins,
    applySeedNames(raw, options.env ?? process.env, (name) => `environment variable ${name}`),
  );
  for (const [key, value] of Object.entries(options.flags ?? {})) {
    if (value === undefined) continue;
    setPath(raw, key, PATH_KEYS.has(key) ? path.resolve(value) : value);
    origins.set(key, `flag ${FLAG_OF_KEY[key] ?? `--${key.split('.').pop()}`}`);
  }

  protectConfigSecrets(CONFIG_SECRETS, raw);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => formatIssue(secretIssue(CONFIG_SECRETS, raw, issue), origins, configSchema));
    const where = file ? ` in ${file}` : '';
    throw new ConfigError(`invalid configuration${where}:\n  ${issues.join('\n  ')}`, issues);
  }
  const config = resolvePaths(result.data, file ? path.dirname(file) : process.cwd());
  return file ? { config, file } : { config };
}

/** Config files are small: 16 MiB is far beyond any real one and keeps an endless file from hanging the load. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

function readText(file: string, what: string): string {
  try {
    // Refuses a FIFO or device by type before reading (a plain read of a FIFO blocks the process, and SIGTERM with it).
    return readRegularFile(file, MAX_CONFIG_BYTES).toString('utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${file}: ${messageOf(err)} (check the path given to --config / --legacy-conf)`, undefined, { cause: err });
  }
}

function readYaml(file: string): Record<string, unknown> {
  const doc = YAML.parseDocument(readText(file, 'config file'), { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new ConfigError(`${file}: not valid YAML: ${first.message.split('\n')[0]}`, undefined, { cause: first });
  }
  let value: unknown;
  try {
    value = doc.toJS() ?? {};
  } catch (err) {
    // The yaml package stops after 100 alias expansions: a "billion laughs" file, not a config.
    throw new ConfigError(`${file}: too many YAML aliases (*name) expand into too much data; a config needs few, if any: write the values out`, undefined, {
      cause: err,
    });
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${file}: expected a mapping of settings at the top level, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

function setPath(raw: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node = raw;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function mergeOrigins(into: Map<string, string>, from: Map<string, string>): void {
  for (const [key, origin] of from) into.set(key, origin);
}

/**
 * `renewal.retry.count: expected a whole number >= 0, got "three"` (+ where the value came from);
 * with `schema`, an unknown key names the nearest known one.
 */
export function formatIssue(issue: z.core.$ZodIssue, origins: Map<string, string> = new Map(), schema?: z.core.$ZodType): string {
  const key = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
  const origin = [...origins].find(([prefix]) => key === prefix || key.startsWith(`${prefix}.`) || key.startsWith(`${prefix}[`));
  const from = origin ? ` (from ${origin[1]})` : '';
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((k) => {
        const name = key ? `${key}.${k}` : k;
        const near = schema && suggestKey(schema, issue.path, k);
        return `${name}: unknown key (${near ? `did you mean ${key ? `${key}.${near}` : near}?` : 'check the spelling against docs/config.md'})`;
      })
      .join('\n  ');
  }
  return `${key || '(top level)'}: ${issue.message}${from}`;
}

function resolvePaths(config: Config, baseDir: string): Config {
  const abs = (p: string) => path.resolve(baseDir, p);
  const orNull = (p: string | null) => (p === null ? null : abs(p));
  return {
    ...config,
    prosody: { config: orNull(config.prosody.config), ...(config.prosody.certs ? { certs: abs(config.prosody.certs) } : {}) },
    files: config.files.map(abs),
    server: { ...config.server, webConfig: orNull(config.server.webConfig) },
    probes: { ...config.probes, ca: config.probes.ca.map(abs) },
    logging: { ...config.logging, alertLog: orNull(config.logging.alertLog) },
    renewal: resolveRenewalPaths(config.renewal, abs),
    notify: resolveNotifyPaths(config.notify, abs),
  };
}

function resolveRenewalPaths(renewal: RenewalConfig, abs: (p: string) => string): RenewalConfig {
  const issuers = renewal.issuers.map((issuer): IssuerConfig => {
    if (issuer.type !== 'acme') return issuer;
    const challenge = Array.isArray(issuer.challenge) ? issuer.challenge.map((c) => resolveChallenge(c, abs)) : resolveChallenge(issuer.challenge, abs);
    const eab = issuer.eab?.hmacKeyFile ? { ...issuer.eab, hmacKeyFile: abs(issuer.eab.hmacKeyFile) } : issuer.eab;
    return { ...issuer, ca: issuer.ca.map(abs), challenge, ...(eab ? { eab } : {}) };
  });
  const reload = renewal.reload && 'pidfile' in renewal.reload ? { ...renewal.reload, pidfile: abs(renewal.reload.pidfile) } : renewal.reload;
  return { ...renewal, stateDir: abs(renewal.stateDir), issuers, reload };
}

function resolveChallenge<T extends SingleChallengeConfig>(challenge: T, abs: (p: string) => string): T {
  if ('webroot' in challenge) return { ...challenge, webroot: abs(challenge.webroot) };
  if ('rfc2136' in challenge)
    return { ...challenge, rfc2136: { ...challenge.rfc2136, tsig: { ...challenge.rfc2136.tsig, secretFile: abs(challenge.rfc2136.tsig.secretFile) } } };
  return challenge;
}
