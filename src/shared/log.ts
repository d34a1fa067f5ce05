/**
 * The logger: pino JSON to stdout, with secret-bearing fields redacted wherever they appear.
 * Alert events (status changes) also go, one JSON line each, to `logging.alertLog` when set.
 */
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';

export type { Logger };

/** Field names that may carry a secret, at any depth we log. */
const REDACT_PATHS = ['password', 'pass', 'secret', 'token', 'authorization', 'hmacKey', 'privateKey', 'url', 'webhookUrl'].flatMap((k) => [
  k,
  `*.${k}`,
  `*.*.${k}`,
]);

export function createLogger(level: string, destination: pino.DestinationStream | number = 1): Logger {
  const stream = typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination;
  return pino({ level, base: { name: 'xmpp-cert' }, redact: { paths: REDACT_PATHS, censor: '<redacted>' } }, stream);
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
