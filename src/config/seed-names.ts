/**
 * The seed's variable names (environment, or KEY=VALUE lines of a cert-monitor.conf) and the config
 * key each one sets. Values stay strings here; the schema converts and checks them.
 * Does not read the environment or files itself.
 */
import { ConfigError } from '../shared/errors';

type Setter = { path: string; apply: (raw: Record<string, unknown>, value: string) => void };

const setAt = (path: string, convert: (v: string) => unknown = (v) => v): Setter => ({
  path,
  apply: (raw, value) => {
    const keys = path.split('.');
    let node = raw;
    for (const key of keys.slice(0, -1)) {
      if (typeof node[key] !== 'object' || node[key] === null || Array.isArray(node[key])) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys[keys.length - 1]!] = convert(value);
  },
});

/** PROSODY_DOMAIN may hold several names, separated by commas or spaces. */
const splitList = (v: string) => v.split(/[\s,]+/).filter(Boolean);

export const SEED_NAMES: Record<string, Setter> = {
  CERT_WARNING_THRESHOLD: setAt('thresholds.warning'),
  CERT_CRITICAL_THRESHOLD: setAt('thresholds.critical'),
  CERT_RENEWAL_THRESHOLD: setAt('thresholds.renewal'),
  CERT_CHECK_INTERVAL: setAt('scan.interval'),
  CERT_RENEWAL_CHECK_INTERVAL: setAt('renewal.checkInterval'),
  CERT_RENEWAL_RETRY_COUNT: setAt('renewal.retry.count'),
  CERT_RENEWAL_RETRY_DELAY: setAt('renewal.retry.delay'),
  CERT_ALERT_EMAIL: setAt('notify.email.to'),
  CERT_WEBHOOK_URL: setAt('notify.webhooks', (url) => [{ url }]),
  PROSODY_DOMAIN: setAt('domains', splitList),
  LETSENCRYPT_EMAIL: setAt('renewal.email'),
  CERT_TEST_MODE: setAt('renewal.testMode'),
};

/** Applies the seed names found in `vars` onto `raw`; returns config path -> where it came from. */
export function applySeedNames(raw: Record<string, unknown>, vars: Record<string, string | undefined>, origin: (name: string) => string): Map<string, string> {
  const origins = new Map<string, string>();
  for (const [name, setter] of Object.entries(SEED_NAMES)) {
    const value = vars[name];
    if (value === undefined || value === '') continue;
    setter.apply(raw, value);
    origins.set(setter.path, origin(name));
  }
  return origins;
}

/**
 * Reads the KEY=VALUE lines of a shell-style cert-monitor.conf: `#` comments, optional `export`,
 * single or double quotes, and a trailing ` # comment` after an unquoted value. Names outside
 * SEED_NAMES are rejected so a typo never goes unnoticed.
 */
export function parseLegacyConf(textContent: string, file: string): { vars: Record<string, string>; lines: Record<string, number> } {
  const vars: Record<string, string> = {};
  const lines: Record<string, number> = {};
  const problems: string[] = [];
  textContent.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) {
      problems.push(`${file}:${index + 1}: expected KEY=VALUE, got ${JSON.stringify(line)}`);
      return;
    }
    const [, name, rest] = match as unknown as [string, string, string];
    if (!(name in SEED_NAMES)) {
      problems.push(`${file}:${index + 1}: unknown setting ${name} (known: ${Object.keys(SEED_NAMES).join(', ')})`);
      return;
    }
    const value = unquote(rest.trim());
    if (value === undefined) {
      problems.push(`${file}:${index + 1}: ${name} has an unterminated quote`);
      return;
    }
    vars[name] = value;
    lines[name] = index + 1;
  });
  if (problems.length > 0) throw new ConfigError(problems.join('\n'), problems);
  return { vars, lines };
}

function unquote(value: string): string | undefined {
  const quote = value[0];
  if (quote === '"' || quote === "'") {
    const end = value.indexOf(quote, 1);
    if (end < 0) return undefined;
    return value.slice(1, end);
  }
  return value.replace(/\s+#.*$/, '');
}
