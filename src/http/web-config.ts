/**
 * exporter-toolkit's web-config.yml (`--web.config.file`): TLS (`tls_server_config`), extra
 * response headers (`http_server_config.headers`, exporter-toolkit's five) and basic auth
 * (`basic_auth_users`, bcrypt hashes). Reads and checks the file; serving is http/server.ts's job,
 * checking credentials http/basic-auth.ts's. Keys this exporter does not implement (inline
 * `cert`/`key`/`client_ca`, `client_allowed_sans`, `rate_limit`, `http2: true`) are rejected rather
 * than ignored, so nobody believes a setting is in force when it is not. The bcrypt hashes are
 * marked secret (config/secret.ts): no error or log line shows them.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { formatIssue } from '../config';
import { protectConfigSecrets, secret, secretFields, secretIssue } from '../config/secret';
import { WebConfigError, messageOf } from '../shared/errors';
import { CIPHER_SUITE_NAMES, CURVES, DEFAULT_CIPHER_SUITES, TLS_VERSIONS, cipherList, curveList, type TlsVersionName } from './tls-options';

const CLIENT_AUTH = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'] as const;
type ClientAuth = (typeof CLIENT_AUTH)[number];

/**
 * Each check costs 2^cost rounds: 10 is ~55 ms here, 12 ~225 ms, 14 ~0.9 s. Above 12 a stream of
 * wrong passwords keeps the verifier busy long enough to delay a new scraper's first check by
 * seconds, so such hashes are refused at load (the verdict cache only helps known credentials).
 */
export const MAX_BCRYPT_COST = 12;
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => `expected one of ${values.join(', ')}, got ${JSON.stringify(iss.input)}` });

const bcryptHash = () =>
  z.string({ error: 'expected a bcrypt hash' }).superRefine((hash, ctx) => {
    const match = BCRYPT.exec(hash);
    const cost = Number(match?.[1]);
    if (!match) ctx.addIssue({ code: 'custom', message: 'expected a bcrypt hash ($2y$...), e.g. from `htpasswd -nBC 10 USER`' });
    else if (cost < 4)
      ctx.addIssue({ code: 'custom', message: `bcrypt cost ${cost} is below bcrypt's minimum of 4; hash it again with \`htpasswd -nBC 10 USER\`` });
    else if (cost > MAX_BCRYPT_COST)
      ctx.addIssue({
        code: 'custom',
        message: `bcrypt cost ${cost} is above the maximum of ${MAX_BCRYPT_COST} (each check would take ~${(0.055 * 2 ** (cost - 10)).toFixed(1)} s, so wrong passwords could keep new scrapers waiting); hash it again with \`htpasswd -nBC 10 USER\``,
      });
  });

/** exporter-toolkit's own list: only these headers, and only these values where the header has fixed ones (null: any). */
const HEADERS = new Map<string, readonly string[] | null>([
  ['Strict-Transport-Security', null],
  ['X-Content-Type-Options', ['nosniff']],
  ['X-Frame-Options', ['deny', 'sameorigin']],
  ['X-XSS-Protection', null],
  ['Content-Security-Policy', null],
]);

const headers = z.record(z.string(), z.string().regex(/^[\t\x20-\x7e]*$/, 'expected a single line of printable text')).superRefine((map, ctx) => {
  for (const [name, value] of Object.entries(map)) {
    const allowed = HEADERS.get(name);
    if (allowed === undefined)
      ctx.addIssue({
        code: 'custom',
        path: [name],
        message: `header ${JSON.stringify(name)} cannot be set (exporter-toolkit allows ${[...HEADERS.keys()].join(', ')})`,
      });
    else if (allowed && !allowed.includes(value))
      ctx.addIssue({ code: 'custom', path: [name], message: `expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}` });
  }
});

const tlsVersion = () => oneOf(Object.keys(TLS_VERSIONS) as [TlsVersionName, ...TlsVersionName[]]);

export const webConfigSchema = z.strictObject({
  tls_server_config: z
    .strictObject({
      cert_file: z.string().min(1),
      key_file: z.string().min(1),
      client_auth_type: z
        .enum([...CLIENT_AUTH, 'RequireClientCert'], { error: (iss) => `expected one of ${CLIENT_AUTH.join(', ')}, got ${JSON.stringify(iss.input)}` })
        .transform((v): ClientAuth => (v === 'RequireClientCert' ? 'RequireAnyClientCert' : v))
        .default('NoClientCert'),
      client_ca_file: z.string().min(1).optional(),
      min_version: tlsVersion().default('TLS12'),
      max_version: tlsVersion().default('TLS13'),
      cipher_suites: z
        .array(
          z.enum(CIPHER_SUITE_NAMES as [string, ...string[]], {
            error: (iss) =>
              `expected a cipher suite of Go's tls.CipherSuites() such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (see docs/config.md), got ${JSON.stringify(iss.input)}`,
          }),
        )
        .optional(),
      prefer_server_cipher_suites: z.boolean().default(true),
      curve_preferences: z.array(oneOf(Object.keys(CURVES) as [keyof typeof CURVES, ...Array<keyof typeof CURVES>])).default([]),
    })
    .optional(),
  http_server_config: z
    .strictObject({
      headers: headers.default({}),
      http2: z.literal(false, { error: 'HTTP/2 is not supported by this exporter: set http2: false or leave it out' }).optional(),
    })
    .optional(),
  basic_auth_users: z.record(z.string(), secret(bcryptHash())).optional(),
});

/** The secret fields of web-config.yml (the bcrypt hashes), found by their mark in the schema. */
const WEB_SECRETS = secretFields(webConfigSchema);

export interface WebConfig {
  file: string;
  tls?: {
    cert: Buffer;
    key: Buffer;
    ca?: Buffer;
    clientAuth: ClientAuth;
    requestCert: boolean;
    rejectUnauthorized: boolean;
    minVersion: (typeof TLS_VERSIONS)[TlsVersionName];
    maxVersion: (typeof TLS_VERSIONS)[TlsVersionName];
    ciphers: string;
    honorCipherOrder: boolean;
    ecdhCurve?: string;
  };
  headers: Record<string, string>;
  /** User -> bcrypt hash. A Map: a name such as `constructor` or `__proto__` is just a name. */
  users?: ReadonlyMap<string, string>;
}

/** exporter-toolkit keys this exporter does not implement: said so, not "check the spelling". */
const UNSUPPORTED_KEYS = new Set([
  'rate_limit',
  'tls_server_config.cert',
  'tls_server_config.key',
  'tls_server_config.client_ca',
  'tls_server_config.client_allowed_sans',
]);

function webIssue(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'unrecognized_keys') return formatIssue(issue);
  const prefix = issue.path.map(String).join('.');
  const full = (key: string) => (prefix ? `${prefix}.${key}` : key);
  const unsupported = issue.keys.filter((key) => UNSUPPORTED_KEYS.has(full(key)));
  const unknown = issue.keys.filter((key) => !UNSUPPORTED_KEYS.has(full(key)));
  return [
    ...unsupported.map((key) => `${full(key)}: an exporter-toolkit key this exporter does not implement; remove it (docs/config.md lists the supported keys)`),
    ...(unknown.length > 0 ? [formatIssue({ ...issue, keys: unknown })] : []),
  ].join('\n  ');
}

export function loadWebConfig(file: string): WebConfig {
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    throw new WebConfigError(`cannot read web config ${file}: ${messageOf(err)}`, file, { cause: err });
  }
  protectConfigSecrets(WEB_SECRETS, raw);
  const parsed = webConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => webIssue(secretIssue(WEB_SECRETS, raw, i)));
    throw new WebConfigError(`invalid web config ${file}:\n  ${issues.join('\n  ')}`, file);
  }
  const { tls_server_config: tls, http_server_config: http, basic_auth_users: users } = parsed.data;
  // From the YAML's own keys: zod's output object drops a user named __proto__.
  const rawUsers = (raw as { basic_auth_users?: Record<string, string> }).basic_auth_users;
  const config: WebConfig = { file, headers: http?.headers ?? {}, ...(users && rawUsers ? { users: new Map(Object.entries(rawUsers)) } : {}) };
  if (tls) config.tls = tlsOptions(file, tls);
  return config;
}

type TlsSection = NonNullable<z.output<typeof webConfigSchema>['tls_server_config']>;

function tlsOptions(file: string, tls: TlsSection): NonNullable<WebConfig['tls']> {
  const fail = (message: string) => new WebConfigError(`${file}: tls_server_config.${message}`, file);
  const verify = tls.client_auth_type === 'RequireAndVerifyClientCert' || tls.client_auth_type === 'VerifyClientCertIfGiven';
  if (verify && !tls.client_ca_file) throw fail(`client_ca_file is needed for client_auth_type ${tls.client_auth_type}`);
  if (tls.client_ca_file && tls.client_auth_type === 'NoClientCert')
    throw fail('client_ca_file is set but client_auth_type is NoClientCert (set a client_auth_type)');
  const versions = Object.keys(TLS_VERSIONS);
  if (versions.indexOf(tls.min_version) > versions.indexOf(tls.max_version))
    throw fail(`min_version ${tls.min_version} is above max_version ${tls.max_version}`);
  if (tls.max_version === 'TLS10' || tls.max_version === 'TLS11')
    throw fail(`max_version ${tls.max_version}: OpenSSL here refuses TLS 1.0 and 1.1, so no version would be left (use TLS12 or TLS13)`);
  const suites = tls.cipher_suites ?? DEFAULT_CIPHER_SUITES;
  const ciphers = cipherList(suites);
  if (tls.max_version === 'TLS12' && ciphers.split(':').length === 3)
    throw fail('cipher_suites names no TLS 1.2 suite, and max_version TLS12 leaves no TLS 1.3');
  const read = (p: string) => readRelative(file, p);
  const ecdhCurve = curveList(tls.curve_preferences);
  return {
    cert: read(tls.cert_file),
    key: read(tls.key_file),
    ...(tls.client_ca_file ? { ca: read(tls.client_ca_file) } : {}),
    clientAuth: tls.client_auth_type,
    requestCert: tls.client_auth_type !== 'NoClientCert',
    // node can only require-and-verify; the "any"/"if given" variants are checked per request.
    rejectUnauthorized: tls.client_auth_type === 'RequireAndVerifyClientCert',
    minVersion: TLS_VERSIONS[tls.min_version],
    maxVersion: TLS_VERSIONS[tls.max_version],
    ciphers,
    honorCipherOrder: tls.prefer_server_cipher_suites,
    ...(ecdhCurve ? { ecdhCurve } : {}),
  };
}

/** Paths in web-config.yml are relative to the file, as exporter-toolkit resolves them. */
function readRelative(configFile: string, p: string): Buffer {
  const full = path.resolve(path.dirname(configFile), p);
  try {
    return fs.readFileSync(full);
  } catch (err) {
    throw new WebConfigError(`${configFile}: cannot read ${full}: ${messageOf(err)}`, configFile, { cause: err });
  }
}
