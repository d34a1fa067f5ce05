/**
 * `xmpp-cert setup`'s answers -> the YAML config it writes. Pure: parses the `--challenge` syntax,
 * builds the config object (only what differs from the defaults, plus what the units rely on) and
 * renders it with a header. It does not validate against the schema (setup.ts does that with the
 * real loadConfig before writing) and does no I/O.
 */
import YAML from 'yaml';
import { ConfigError } from '../../shared/errors';

/** What the operator chose, by flag or by prompt. */
export interface Answers {
  /** prosody.cfg.lua, or null for none. */
  prosodyConfig: string | null;
  /** Domains to watch besides the hosts of prosody.cfg.lua. */
  domains: string[];
  /** Written as prosody.certs; unset: Prosody's own `certificates` option decides. */
  certsDir?: string;
  email?: string;
  challenge: Challenge;
  staging: boolean;
  /** Prosody's pidfile, for the reload after an install; null: no reload. */
  pidfile: string | null;
}

export type Challenge =
  { type: 'selfsigned' } | { type: 'http-01'; listen: string } | { type: 'http-01'; webroot: string } | { type: 'dns-01'; hook: string[] };

export const CHALLENGE_SYNTAX = 'http-01, http-01:HOST:PORT, webroot:DIR, dns-01:HOOK or selfsigned';

/** The state directory the systemd units create (StateDirectory=xmpp-cert). */
export const STATE_DIR = '/var/lib/xmpp-cert';

/** `http-01`, `http-01::8080`, `webroot:/var/www/acme`, `dns-01:/usr/local/bin/dns-hook --zone x`, `selfsigned`. */
export function parseChallenge(text: string): Challenge {
  const value = text.trim();
  const [kind, rest] = splitOnce(value, ':');
  if (kind === 'selfsigned' && rest === undefined) return { type: 'selfsigned' };
  if (kind === 'http-01') return { type: 'http-01', listen: rest === undefined || rest === '' ? ':80' : rest };
  if (kind === 'webroot' && rest) return { type: 'http-01', webroot: rest };
  // The hook is split on white space (no shell, no quoting): the schema wants a list of arguments.
  if (kind === 'dns-01' && rest?.trim()) return { type: 'dns-01', hook: rest.trim().split(/\s+/) };
  throw new ConfigError(`--challenge: expected ${CHALLENGE_SYNTAX}, got ${JSON.stringify(text)}`);
}

export function challengeText(challenge: Challenge): string {
  if (challenge.type === 'selfsigned') return 'selfsigned';
  if ('listen' in challenge) return challenge.listen === ':80' ? 'http-01' : `http-01:${challenge.listen}`;
  if ('webroot' in challenge) return `webroot:${challenge.webroot}`;
  return `dns-01:${challenge.hook.join(' ')}`;
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

/** The config object; keys the operator did not choose are left to the schema's defaults. */
export function buildConfig(answers: Answers): Record<string, unknown> {
  const prosody: Record<string, unknown> = { config: answers.prosodyConfig };
  if (answers.certsDir) prosody.certs = answers.certsDir;
  const issuers: unknown[] = [];
  if (answers.challenge.type !== 'selfsigned') {
    const { type, ...rest } = answers.challenge;
    issuers.push({ type: 'acme', directory: answers.staging ? 'letsencrypt-staging' : 'letsencrypt', challenge: { type, ...rest } });
  }
  issuers.push({ type: 'selfsigned' });
  const renewal: Record<string, unknown> = {
    ...(answers.email ? { email: answers.email } : {}),
    stateDir: STATE_DIR,
    issuers,
    reload: answers.pidfile === null ? null : { signal: 'HUP', pidfile: answers.pidfile },
  };
  return { prosody, ...(answers.domains.length > 0 ? { domains: answers.domains } : {}), renewal };
}

export function renderConfig(answers: Answers, file: string): string {
  const header = [
    '# xmpp-cert configuration, written by `xmpp-cert setup`. Every key: docs/config.md.',
    `# Check changes with: xmpp-cert config check --config ${file}`,
    ...(answers.staging && answers.challenge.type !== 'selfsigned'
      ? ["# Let's Encrypt staging issues test certificates: set directory: letsencrypt once renewals work."]
      : []),
  ];
  return `${header.join('\n')}\n${YAML.stringify(buildConfig(answers))}`;
}

/** Config keys -> the flag that sets them, so a schema error names what the operator typed. */
export const FLAG_FOR_KEY: ReadonlyArray<[string, string]> = [
  ['prosody.config', '--prosody-config'],
  ['prosody.certs', '--certs-dir'],
  ['domains', '--domain'],
  ['renewal.email', '--email'],
  ['renewal.issuers', '--challenge'],
  ['renewal.reload', '--pidfile'],
];
