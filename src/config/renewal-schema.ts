/**
 * The `renewal` section of the config schema: issuers (ACME, self-signed), challenges, certificate
 * groups, install, reload, verify, retries and backoff. Split from schema.ts to keep files small;
 * docs/config.md documents each key. Paths stay relative here; load.ts resolves them.
 */
import { z } from 'zod';
import { isWildcard, patternsOf, ruleFor } from './challenge-match';
import { certificateName, domainName, duration, email, flag, list, listen, section, show, text, wholeNumber } from './fields';
import { secret } from './secret';

/** Without issuers nothing is ordered, never silently from Let's Encrypt production: what to set. */
export const NO_ISSUER =
  "no issuer configured: renewal.issuers is not set, so nothing is renewed. Set it, e.g. renewal.issuers: [{type: acme, email: you@example.org}, {type: selfsigned}] for Let's Encrypt with a self-signed fallback (directory: letsencrypt-staging to try it first); see docs/config.md#issuers";

export const KEY_TYPES = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => `expected one of ${values.join(', ')}, got ${show(iss.input)}` });

const literal = <const T extends string>(value: T) => z.literal(value, { error: (iss) => `expected "${value}", got ${show(iss.input)}` });

const keyType = () => oneOf(KEY_TYPES);

/** A command as a list of arguments (no shell), e.g. ["prosodyctl", "reload"]. */
const command = () => list(text()).min(1, { error: 'expected a command as a list such as ["prosodyctl", "reload"]' });

/** TSIG algorithms nsupdate (BIND 9.18) signs with; hmac-md5 is left out on purpose. */
export const TSIG_ALGORITHMS = ['hmac-sha256', 'hmac-sha384', 'hmac-sha512', 'hmac-sha224', 'hmac-sha1'] as const;

const port = () => wholeNumber(1).refine((n) => n <= 65535, { error: 'expected a port from 1 to 65535' });

/** DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945), sent by nsupdate. */
const rfc2136 = section({
  /** The primary server that accepts the update (host name or address). */
  server: text(),
  port: port().default(53),
  /** The zone to update; unset: found by asking `server` for the SOA of each parent of the record. */
  zone: domainName().optional(),
  tsig: section({
    name: text(),
    algorithm: oneOf(TSIG_ALGORITHMS).default('hmac-sha256'),
    /** The base64 secret, or a BIND key file (tsig-keygen's output); keep it 0600. */
    secretFile: text(),
  }),
  /** TTL of the TXT records. */
  ttl: wholeNumber(0).default(60),
  /** How long every authoritative server may take to answer the new TXT records. */
  propagationTimeout: duration(1).default(120),
  /** Servers checked for propagation ("host:port"); unset: the zone's NS records, on `port`. */
  nameservers: list(listen()).optional(),
});

/** The challenge types, with `extra` keys (`match` in a per-name list). */
const challengeVariants = <T extends z.core.$ZodLooseShape>(extra: T) =>
  [
    section({ ...extra, type: literal('http-01'), listen: listen() }),
    section({ ...extra, type: literal('http-01'), webroot: text() }),
    section({
      ...extra,
      type: literal('dns-01'),
      hook: command(),
      /** How long to wait after the hook added the TXT record before asking the CA to validate. */
      propagation: duration(0).default(30),
    }),
    section({ ...extra, type: literal('dns-01'), rfc2136 }),
  ] as const;

const CHALLENGE_SHAPES =
  '{type: http-01, listen: "host:port"}, {type: http-01, webroot: DIR}, {type: dns-01, hook: [command, ...]} or {type: dns-01, rfc2136: {...}}';

const oneChallenge = z.union(challengeVariants({}), { error: () => `expected ${CHALLENGE_SHAPES}` });

const pattern = () => text().refine((p) => p === '*' || /^(\*\.)?[A-Za-z0-9_.-]+$/.test(p), { error: 'expected a name, *.example.org or *' });

const challengeRule = z.union(challengeVariants({ match: z.union([pattern(), list(pattern()).min(1)]) }), {
  error: () => `expected {match: PATTERN, ...} with one of ${CHALLENGE_SHAPES}`,
});

/** One challenge for every name, or a list of rules: the first whose `match` fits a name is used. */
const challenge = z.union([oneChallenge, list(challengeRule).min(1, { error: 'expected at least one {match: PATTERN, ...} entry' })], {
  error: () => `expected ${CHALLENGE_SHAPES}, or a list of them each with match: PATTERN`,
});

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
  /** A test CA (untrusted certificates): its certificate in place is replaced once no staging issuer is configured. Unset: true for letsencrypt-staging. */
  staging: flag().optional(),
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
  /** Unset: none, and nothing is renewed (never a silent order from Let's Encrypt production). */
  issuers: list(issuer).min(1, { error: 'expected at least one issuer' }).default([]),
  /** New orders per ACME account and hour; more wait for a free slot. Let's Encrypt allows 300 per 3 hours. */
  maxOrdersPerHour: wholeNumber(1).default(20),
  /** Minimum time between two CA issuances of one group (for the same names), at most half the last one's lifetime. */
  minSpacing: duration(0).default(86400),
  /** Groups; unset: one per VirtualHost with the Components below it. Wildcards need dns-01. */
  certificates: list(section({ name: domainName(), domains: list(certificateName()).min(1, { error: 'expected at least one domain' }) })).optional(),
  /** The certificate key across renewals (DANE): see key-store.ts. */
  key: section({
    reuse: flag().default(false),
    /** With reuse: rotate to the prepared next key at the first renewal after the key is this old. */
    maxAge: duration(86400).optional(),
  }).prefault({}),
  /** Commands around each group's run that orders (certbot's pre/post hooks), no shell. */
  hooks: section({ pre: command().optional(), post: command().optional() }).prefault({}),
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
}).superRefine(checkChallenges);

/** Every configured name gets a challenge from every ACME issuer, and a wildcard gets dns-01. */
function checkChallenges(
  renewal: { issuers: readonly { type: string; challenge?: unknown }[]; certificates?: readonly { domains: string[] }[] | undefined },
  ctx: z.RefinementCtx,
): void {
  renewal.issuers.forEach((issuer, i) => {
    const challenge = issuer.challenge as ChallengeConfig | undefined;
    if (issuer.type !== 'acme' || !challenge) return;
    renewal.certificates?.forEach((group, g) =>
      group.domains.forEach((name, d) => {
        const chosen = challengeFor(challenge, name);
        const where = `renewal.certificates[${g}].domains[${d}]`;
        if (!chosen)
          ctx.addIssue({
            code: 'custom',
            path: ['issuers', i, 'challenge'],
            message: `no entry matches ${name} (${where}); add one, or a last entry with match: "*"`,
          });
        else if (isWildcard(name) && chosen.type !== 'dns-01')
          ctx.addIssue({
            code: 'custom',
            path: ['issuers', i, 'challenge'],
            message: `${name} (${where}) is a wildcard and needs dns-01, but gets ${chosen.type}`,
          });
      }),
    );
  });
}

/** The challenge a name gets: the single one, or the first rule whose `match` fits. */
export function challengeFor(challenge: ChallengeConfig, name: string): SingleChallengeConfig | undefined {
  if (!Array.isArray(challenge)) return challenge;
  return challenge[ruleFor(challenge, name)];
}

export { patternsOf };

export type RenewalConfig = z.output<typeof renewalSchema>;
export type IssuerConfig = RenewalConfig['issuers'][number];
export type AcmeIssuerConfig = Extract<IssuerConfig, { type: 'acme' }>;
export type SelfSignedIssuerConfig = Extract<IssuerConfig, { type: 'selfsigned' }>;
export type ChallengeConfig = AcmeIssuerConfig['challenge'];
/** One challenge (a rule's `match` is ignored where it is present). */
export type SingleChallengeConfig = z.output<typeof oneChallenge> | z.output<typeof challengeRule>;
export type ChallengeRuleConfig = z.output<typeof challengeRule>;
export type Rfc2136Config = z.output<typeof rfc2136>;
export type KeyConfig = RenewalConfig['key'];
export type HooksConfig = RenewalConfig['hooks'];
export type ReloadConfig = NonNullable<RenewalConfig['reload']>;
