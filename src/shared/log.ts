/**
 * The logger: pino JSON to stdout (or logfmt, `logging.format`), with secret-bearing fields
 * redacted wherever they appear. Alert events (status changes) also go, one JSON line each, to
 * `logging.alertLog` when set.
 */
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { logfmtLine } from './logfmt';

export type { Logger };
export type LogFormat = 'json' | 'logfmt';

/** Field names that may carry a secret, at any depth we log. */
const REDACT_PATHS = ['password', 'pass', 'secret', 'token', 'authorization', 'hmacKey', 'privateKey', 'url', 'webhookUrl'].flatMap((k) => [
  k,
  `*.${k}`,
  `*.*.${k}`,
]);

export function createLogger(level: string, destination: pino.DestinationStream | number = 1, format: LogFormat = 'json'): Logger {
  const stream = typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination;
  const redact = { paths: REDACT_PATHS, censor: '<redacted>' };
  if (format === 'json') return pino({ level, base: { name: 'xmpp-cert' }, redact }, stream);
  // logfmt: ISO time and the level's name, as people read them; pino's JSON line is rewritten.
  const logfmt = { write: (line: string) => void stream.write(logfmtLine(JSON.parse(line) as Record<string, unknown>)) };
  return pino({ level, base: undefined, redact, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, logfmt);
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
