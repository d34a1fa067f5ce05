/**
 * exporter-toolkit's web-config.yml (`--web.config.file`): TLS (`tls_server_config`), extra
 * response headers (`http_server_config.headers`) and basic auth (`basic_auth_users`, bcrypt
 * hashes). Reads and checks the file; serving is http/server.ts's job. Keys this exporter does not
 * implement (cipher_suites, curve_preferences, http2, ...) are rejected rather than ignored, so
 * nobody believes a setting is in force when it is not.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import YAML from 'yaml';
import { z } from 'zod';
import { formatIssue } from '../config';
import { WebConfigError, messageOf } from '../shared/errors';

const CLIENT_AUTH = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'] as const;
const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
const tlsVersion = z.enum(Object.keys(TLS_VERSIONS) as [keyof typeof TLS_VERSIONS]);

const schema = z.strictObject({
  tls_server_config: z
    .strictObject({
      cert_file: z.string().min(1),
      key_file: z.string().min(1),
      client_auth_type: z.enum(CLIENT_AUTH).default('NoClientCert'),
      client_ca_file: z.string().min(1).optional(),
      min_version: tlsVersion.default('TLS12'),
      max_version: tlsVersion.default('TLS13'),
    })
    .optional(),
  http_server_config: z.strictObject({ headers: z.record(z.string(), z.string()).default({}) }).optional(),
  basic_auth_users: z
    .record(z.string(), z.string().regex(/^\$2[aby]\$\d\d\$/, 'expected a bcrypt hash ($2y$...), e.g. from `htpasswd -nBC 10 USER`'))
    .optional(),
});

export interface WebConfig {
  file: string;
  tls?: {
    cert: Buffer;
    key: Buffer;
    ca?: Buffer;
    clientAuth: (typeof CLIENT_AUTH)[number];
    requestCert: boolean;
    rejectUnauthorized: boolean;
    minVersion: (typeof TLS_VERSIONS)[keyof typeof TLS_VERSIONS];
    maxVersion: (typeof TLS_VERSIONS)[keyof typeof TLS_VERSIONS];
  };
  headers: Record<string, string>;
  users?: Record<string, string>;
}

export function loadWebConfig(file: string): WebConfig {
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    throw new WebConfigError(`cannot read web config ${file}: ${messageOf(err)}`, file, { cause: err });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => formatIssue(i));
    throw new WebConfigError(`invalid web config ${file}:\n  ${issues.join('\n  ')}`, file);
  }
  const { tls_server_config: tls, http_server_config: http, basic_auth_users: users } = parsed.data;
  const read = (p: string) => readRelative(file, p);
  const config: WebConfig = { file, headers: http?.headers ?? {}, ...(users ? { users } : {}) };
  if (tls) {
    const verify = tls.client_auth_type === 'RequireAndVerifyClientCert' || tls.client_auth_type === 'VerifyClientCertIfGiven';
    if (verify && !tls.client_ca_file)
      throw new WebConfigError(`${file}: tls_server_config.client_ca_file is needed for client_auth_type ${tls.client_auth_type}`, file);
    config.tls = {
      cert: read(tls.cert_file),
      key: read(tls.key_file),
      ...(tls.client_ca_file ? { ca: read(tls.client_ca_file) } : {}),
      clientAuth: tls.client_auth_type,
      requestCert: tls.client_auth_type !== 'NoClientCert',
      // node can only require-and-verify; the "any"/"if given" variants are checked per request.
      rejectUnauthorized: tls.client_auth_type === 'RequireAndVerifyClientCert',
      minVersion: TLS_VERSIONS[tls.min_version],
      maxVersion: TLS_VERSIONS[tls.max_version],
    };
  }
  return config;
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

/**
 * Checks basic-auth credentials. bcrypt costs tens of milliseconds by design, so verdicts are
 * cached by a SHA-256 of (user, password, hash), as exporter-toolkit does; the cache is bounded.
 */
export class BasicAuth {
  private verdicts = new Map<string, boolean>();

  constructor(private readonly users: Record<string, string>) {}

  check(user: string, password: string): boolean {
    const hash = this.users[user];
    // Compare against a dummy hash for unknown users so timing does not reveal who exists.
    const target = hash ?? '$2b$10$C6UzMDM.H6dfI/f/IKcEeO5sQy6nZ0H4Fz5vJf8Xh8m1xPpW6d3XK';
    const key = crypto.createHash('sha256').update(`${user}\0${password}\0${target}`).digest('hex');
    let ok = this.verdicts.get(key);
    if (ok === undefined) {
      ok = bcrypt.compareSync(password, target) && hash !== undefined;
      if (this.verdicts.size > 1000) this.verdicts.clear();
      this.verdicts.set(key, ok);
    }
    return ok;
  }
}
