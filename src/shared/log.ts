/**
 * The logger: pino JSON to stdout (or logfmt, `logging.format`), with secrets kept out of every
 * line. Two guards, both fed by `protectSecrets` (config/load.ts and http/web-config.ts call it
 * with what the schema marks secret, config/secret.ts): a field whose name is a secret's key
 * (`url`, `hmacKey`, ...) is replaced at any depth, and any secret value is replaced wherever it
 * still appears in the written line (a message, an error, a stack). Alert events (status
 * changes) also go, one JSON line each, to `logging.alertLog` when set.
 */
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { logfmtLine } from './logfmt';
import { REDACTED, scrub } from './secrets';

export type { Logger };
export type LogFormat = 'json' | 'logfmt';

/** Field names that carry a secret whatever the config says (HTTP and library objects); the config's own come from its schema. */
const SECRET_KEYS = new Set(['password', 'pass', 'secret', 'token', 'authorization', 'cookie', 'privatekey']);
const SECRET_VALUES = new Set<string>();
/** Shorter values are not scrubbed from whole lines: they would match inside unrelated text; their fields are still redacted by name. */
const MIN_SCRUBBED = 8;
/** Nested deeper than this, a logged object is cut off (nothing we log is). */
const MAX_DEPTH = 8;

/** Adds secret field names and values for every logger of this process, now and later (the set only grows: an old secret stays one). */
export function protectSecrets(secrets: { keys?: Iterable<string>; values?: Iterable<string> }): void {
  for (const key of secrets.keys ?? []) SECRET_KEYS.add(key.toLowerCase());
  for (const value of secrets.values ?? []) if (value.length >= MIN_SCRUBBED) SECRET_VALUES.add(value);
}

/** A copy of `value` with secret-named fields replaced; errors become pino's serialised form first, so their fields are seen too. */
function redactFields(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return redactFields(pino.stdSerializers.err(value), depth);
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.has(k.toLowerCase()) ? REDACTED : redactFields(v, depth + 1)]));
}

/** A secret as it appears inside a JSON string (quotes and backslashes escaped). */
const jsonForms = (value: string) => [value, JSON.stringify(value).slice(1, -1)];

export function createLogger(level: string, destination: pino.DestinationStream | number = 1, format: LogFormat = 'json'): Logger {
  const stream = typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination;
  const guard = {
    formatters: { log: (object: Record<string, unknown>) => redactFields(object) as Record<string, unknown> },
    hooks: { streamWrite: (line: string) => (SECRET_VALUES.size === 0 ? line : scrub(line, [...SECRET_VALUES].flatMap(jsonForms), MIN_SCRUBBED)) },
  };
  if (format === 'json') return pino({ level, base: { name: 'xmpp-cert' }, ...guard }, stream);
  // logfmt: ISO time and the level's name, as people read them; pino's (already scrubbed) JSON line is rewritten.
  const logfmt = { write: (line: string) => void stream.write(logfmtLine(JSON.parse(line) as Record<string, unknown>)) };
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { ...guard.formatters, level: (label: string) => ({ level: label }) },
      hooks: guard.hooks,
    },
    logfmt,
  );
}

/** Appends one JSON line per event; failures are logged, never thrown (the alert log is a copy). */
export function appendAlertLog(file: string | null, event: Record<string, unknown>, log: Logger): void {
  if (!file) return;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
    fs.appendFileSync(file, JSON.stringify({ time: new Date().toISOString(), ...event }) + '\n', { mode: 0o640 });
  } catch (err) {
    log.error({ err, file }, 'cannot append to logging.alertLog; check the path and permissions');
  }
}
