/**
 * The `renewal` section of the config schema: issuers (ACME, self-signed), challenges, certificate
 * groups, install, reload, verify, retries and backoff. Split from schema.ts to keep files small;
 * docs/config.md documents each key. Paths stay relative here; load.ts resolves them.
 */
import { z } from 'zod';
import { domainName, duration, email, flag, list, listen, section, show, text, wholeNumber } from './fields';
import { secret } from './secret';

export const KEY_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => `expected one of ${values.join(', ')}, got ${show(iss.input)}` });

const literal = <const T extends string>(value: T) => z.literal(value, { error: (iss) => `expected "${value}", got ${show(iss.input)}` });

const keyType = () => oneOf(KEY_TYPES);

/** A command as a list of arguments (no shell), e.g. ["prosodyctl", "reload"]. */
const command = () => list(text()).min(1, { error: 'expected a command as a list such as ["prosodyctl", "reload"]' });

const challenge = z.union(
  [
    section({ type: literal('http-01'), listen: listen() }),
    section({ type: literal('http-01'), webroot: text() }),
    section({
      type: literal('dns-01'),
      hook: command(),
      /** How long to wait after the hook added the TXT record before asking the CA to validate. */
      propagation: duration(0).default(30),
    }),
  ],
  { error: () => 'expected {type: http-01, listen: "host:port"}, {type: http-01, webroot: DIR} or {type: dns-01, hook: [command, ...]}' },
);

const acmeIssuer = section({
  type: literal('acme'),
  /** Used by `renew --issuer NAME` and in logs/metrics; defaults to the directory's name. */
  name: text().optional(),
  /** URL, or letsencrypt / letsencrypt-staging; unset: letsencrypt (staging with renewal.testMode). */
  directory: text().optional(),
  email: email().optional(),
  eab: section({ kid: text(), hmacKey: secret(text()).optional(), hmacKeyFile: text().optional() })
    .refine((e) => (e.hmacKey === undefined) !== (e.hmacKeyFile === undefined), { error: 'expected exactly one of hmacKey or hmacKeyFile' })
    .optional(),
  keyType: keyType().default('ecdsa-p256'),
  profile: text().optional(),
  preferredChain: text().optional(),
  /** CA certificate files trusted for the ACME server's own HTTPS (a private CA, Pebble). */
  ca: list(text()).default([]),
  challenge: challenge.default({ type: 'http-01', listen: { host: '', port: 80 } }),
});

const selfSignedIssuer = section({
  type: literal('selfsigned'),
  name: text().optional(),
  lifetime: duration(3600).default(90 * 86400),
  keyType: keyType().default('ecdsa-p256'),
});

const issuer = z.discriminatedUnion('type', [acmeIssuer, selfSignedIssuer], {
  error: (iss) => `expected an issuer with type acme or selfsigned, got ${show((iss.input as { type?: unknown } | undefined)?.type ?? iss.input)}`,
});

const reload = z.union([section({ command: command() }), section({ signal: oneOf(['HUP', 'USR1', 'USR2', 'TERM']).default('HUP'), pidfile: text() })], {
  error: () => 'expected {command: [...]} or {signal: HUP, pidfile: PATH}',
});

const fileMode = () =>
  z.unknown().transform((v, ctx) => {
    // YAML reads 0600 as the number 600: take its digits as octal, as chmod does.
    const digits = typeof v === 'number' || typeof v === 'string' ? String(v).trim() : '';
    const n = /^0?[0-7]{3}$/.test(digits) ? Number.parseInt(digits, 8) : NaN;
    if (!Number.isNaN(n) && n <= 0o777 && (n & 0o007) === 0) return n;
    ctx.addIssue({ code: 'custom', message: `expected an octal file mode without rights for others, such as "0600" or "0640", got ${show(v)}` });
    return z.NEVER;
  });

export const renewalSchema = section({
  checkInterval: duration(60).default(86400),
  /** A random delay up to this, added to each scheduled check (spreads load on the CA). */
  jitter: duration(0).default(3600),
  stateDir: text().default('/var/lib/xmpp-cert'),
  testMode: flag().default(false),
  email: email().optional(),
  retry: section({
    count: wholeNumber(0).default(3),
    delay: duration(0).default(300),
  }).prefault({}),
  /** After a failed run: wait `initial`, doubling per consecutive failure, up to `max`. */
  backoff: section({
    initial: duration(1).default(3600),
    max: duration(1).default(86400),
  }).prefault({}),
  issuers: list(issuer)
    .min(1, { error: 'expected at least one issuer' })
    .prefault([{ type: 'acme' }, { type: 'selfsigned' }]),
  /** Groups; unset: one per VirtualHost with the Components below it. */
  certificates: list(section({ name: domainName(), domains: list(domainName()).min(1, { error: 'expected at least one domain' }) })).optional(),
  reload: reload.nullable().default(null),
  verify: section({
    enabled: flag().default(true),
    timeout: duration(1).default(120),
  }).prefault({}),
  install: section({
    keyMode: fileMode().default(0o600),
    owner: text().optional(),
    group: text().optional(),
    /** Previous certificate/key pairs kept beside the live one. */
    keep: wholeNumber(0).default(3),
  }).prefault({}),
  /** Groups renewed at the same time. */
  concurrency: wholeNumber(1).default(2),
});

export type RenewalConfig = z.output<typeof renewalSchema>;
export type IssuerConfig = RenewalConfig['issuers'][number];
export type AcmeIssuerConfig = Extract<IssuerConfig, { type: 'acme' }>;
export type SelfSignedIssuerConfig = Extract<IssuerConfig, { type: 'selfsigned' }>;
export type ChallengeConfig = AcmeIssuerConfig['challenge'];
export type ReloadConfig = NonNullable<RenewalConfig['reload']>;
