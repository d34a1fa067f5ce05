/**
 * One ACME issuer's account: the trust for the CA's HTTPS, the directory (cached a day), the
 * account key (acme-keys.ts) and its registration (once per process, shared by concurrent
 * orders), and what an operator does with an account besides ordering: show it, roll its key
 * over (RFC 8555 7.3.5), deactivate it (7.3.6) and revoke a certificate with it (7.6). Errors come
 * out typed for classifyFailure. It never logs keys or EAB secrets.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type https from 'node:https';
import * as acme from 'acme-client';
import type { AcmeIssuerConfig } from '../../config/renewal-schema';
import { RenewalError, messageOf } from '../../shared/errors';
import { protectSecrets, type Logger } from '../../shared/log';
import { REVOCATION_REASONS, type RevocationReason } from '../types';
import { accountKeyPath, generateKey, loadOrCreateAccountKey, replaceKeyFile, stageKeyFile } from './acme-keys';
import { AcmeTransport, createAgent } from './acme-transport';

export interface AcmeRenewalSettings {
  stateDir: string;
  testMode: boolean;
  email?: string;
}

export interface AccountInfo {
  directory: string;
  keyFile: string;
  /** Undefined when no key was ever made (no account yet). */
  url?: string;
  status?: string;
  contact?: string[];
  /** RFC 7638 thumbprint of the account key (public). */
  thumbprint?: string;
}

/** How long a fetched directory is trusted before it is read again (acme-client uses the same). */
const DIRECTORY_MAX_AGE_MS = 86_400_000;

/** The part of acme-client 5.4's internal AcmeApi used here (not in its typings). */
interface AccountApi {
  createAccount(data: Record<string, unknown>): Promise<{ data: unknown }>;
  updateAccount(data: Record<string, unknown> | null): Promise<{ data: unknown }>;
  updateAccountKey(data: unknown): Promise<{ data: unknown }>;
  getAccountUrl(): string;
}

interface SigningHttp {
  createSignedBody(url: string, payload: unknown): unknown;
}

export class AcmeAccount {
  private agent: https.Agent | undefined;
  private accountKey: string | undefined;
  private accountUrl: string | undefined;
  private registering: Promise<string> | undefined;
  private directory: { fetched: number; data: Record<string, unknown> } | undefined;

  constructor(
    private readonly config: AcmeIssuerConfig,
    private readonly renewal: AcmeRenewalSettings,
    readonly directoryUrl: string,
    readonly issuerName: string,
  ) {}

  get keyFile(): string {
    return accountKeyPath(this.renewal.stateDir, this.directoryUrl);
  }

  /** A transport with this issuer's `ca` files, read once. */
  transport(domain: string): AcmeTransport {
    try {
      this.agent ??= createAgent(this.config.ca);
    } catch (err) {
      throw new RenewalError(`cannot read the issuer's ca files (${messageOf(err)}); check renewal.issuers[].ca`, 'connection', domain, {}, { cause: err });
    }
    return new AcmeTransport(this.agent);
  }

  /** An acme-client Client on `transport`, with the account registered (once per issuer). */
  async client(transport: AcmeTransport, domain: string, log: Logger): Promise<acme.Client> {
    // Concurrent orders share one registration: a second newAccount for the same key would be an
    // empty account update, which CAs refuse (Pebble: malformed).
    this.accountUrl ??= await (this.registering ??= this.register(domain, log).finally(() => (this.registering = undefined)));
    const client = new acme.Client({ directoryUrl: this.directoryUrl, accountKey: this.key(), accountUrl: this.accountUrl });
    transport.attach(client);
    return client;
  }

  /** A deactivated or unknown account: register again next time. */
  forget(): void {
    this.accountUrl = undefined;
  }

  async directoryDoc(transport: AcmeTransport): Promise<Record<string, unknown>> {
    if (this.directory && Date.now() - this.directory.fetched < DIRECTORY_MAX_AGE_MS) return this.directory.data;
    const response = await transport.request(this.directoryUrl, 'get');
    if (response.status !== 200 || !response.data || typeof response.data !== 'object') {
      throw new Error(`the ACME directory answered HTTP ${response.status}`);
    }
    this.directory = { fetched: Date.now(), data: response.data as Record<string, unknown> };
    return this.directory.data;
  }

  close(): void {
    this.agent?.destroy();
  }

  /** The account as the CA knows it; never registers one (onlyReturnExisting). */
  async show(log: Logger): Promise<AccountInfo> {
    const base = { directory: this.directoryUrl, keyFile: this.keyFile };
    if (!fs.existsSync(this.keyFile)) return base;
    const transport = this.transport('');
    const client = new acme.Client({ directoryUrl: this.directoryUrl, accountKey: this.key() });
    transport.attach(client);
    const api = apiOf(client);
    const response = await transport.call(() => api.createAccount({ onlyReturnExisting: true }));
    const account = response.data as { status?: string; contact?: string[] };
    log.debug({ issuer: this.issuerName }, 'ACME account read');
    return { ...base, url: api.getAccountUrl(), ...pick(account), thumbprint: thumbprint(this.key()) };
  }

  /**
   * Replaces the account key at the CA, then on disk. The new key is first written beside the old
   * one (`account.key.new`, 0600) and only renamed over it once the CA accepted it; if the CA
   * refuses, the new file is removed and the old key stays in use.
   */
  async rollover(log: Logger): Promise<AccountInfo> {
    const transport = this.transport('');
    const client = await this.client(transport, '', log);
    const newKey = generateKey('ecdsa-p256');
    const staged = `${this.keyFile}.new`;
    stageKeyFile(staged, newKey);
    try {
      const url = (await this.directoryDoc(transport)).keyChange;
      if (typeof url !== 'string') throw new RenewalError(`the CA's directory offers no keyChange: it cannot roll the account key over`, 'unknown', '');
      const http = (client as unknown as { http: { constructor: new (directory: string, key: string) => SigningHttp; getJwk(): unknown } }).http;
      // The inner JWS (RFC 8555 7.3.5): signed by the new key, naming the account and the old key.
      const inner = new http.constructor(this.directoryUrl, newKey).createSignedBody(url, { account: this.accountUrl, oldKey: http.getJwk() });
      await transport.call(() => apiOf(client).updateAccountKey(inner));
    } catch (err) {
      fs.rmSync(staged, { force: true });
      throw err;
    }
    replaceKeyFile(staged, this.keyFile);
    this.accountKey = newKey;
    log.info({ issuer: this.issuerName }, 'ACME account key rolled over');
    return this.show(log);
  }

  /** Deactivates the account at the CA and moves its key aside (the next order registers anew). */
  async deactivate(log: Logger): Promise<{ url: string; keptAs: string }> {
    const transport = this.transport('');
    const client = await this.client(transport, '', log);
    const url = this.accountUrl!;
    await transport.call(() => apiOf(client).updateAccount({ status: 'deactivated' }));
    const keptAs = `${this.keyFile}.deactivated-${new Date().toISOString().replace(/[:.]/g, '')}`;
    fs.renameSync(this.keyFile, keptAs);
    this.forget();
    this.accountKey = undefined;
    log.info({ issuer: this.issuerName, account: url }, 'ACME account deactivated');
    return { url, keptAs };
  }

  /** Revokes a certificate (PEM, leaf first) with this account. */
  async revoke(certificatePem: string, reason: RevocationReason, domain: string, log: Logger): Promise<void> {
    const transport = this.transport(domain);
    const client = await this.client(transport, domain, log);
    const leaf = new crypto.X509Certificate(certificatePem);
    await transport.call(() => client.revokeCertificate(leaf.toString(), { reason: REVOCATION_REASONS[reason] }));
    log.info({ issuer: this.issuerName, serial: leaf.serialNumber, reason }, 'certificate revoked');
  }

  private async register(domain: string, log: Logger): Promise<string> {
    const transport = this.transport(domain);
    const eab = this.externalAccountBinding(domain);
    const client = new acme.Client({ directoryUrl: this.directoryUrl, accountKey: this.key(), ...(eab ? { externalAccountBinding: eab } : {}) });
    transport.attach(client);
    const email = this.config.email ?? this.renewal.email;
    // newAccount through acme-client's api object (same transport): its Client.createAccount answers
    // an existing account (HTTP 200, every restart) with an update carrying only
    // termsOfServiceAgreed, which CAs refuse as an empty update (Pebble: malformed).
    const api = apiOf(client);
    await transport.call(() => api.createAccount({ termsOfServiceAgreed: true, ...(email ? { contact: [`mailto:${email}`] } : {}) }));
    const url = api.getAccountUrl();
    log.info({ issuer: this.issuerName, account: url }, 'ACME account ready');
    return url;
  }

  private key(): string {
    return (this.accountKey ??= loadOrCreateAccountKey(this.keyFile));
  }

  /** EAB kid and HMAC key; a key file is read at each use so a rotated key is picked up. */
  private externalAccountBinding(domain: string): { kid: string; hmacKey: string } | undefined {
    const eab = this.config.eab;
    if (!eab) return undefined;
    if (eab.hmacKey) return { kid: eab.kid, hmacKey: eab.hmacKey };
    try {
      const hmacKey = fs.readFileSync(eab.hmacKeyFile ?? '', 'utf8').trim();
      protectSecrets({ values: [hmacKey] }); // read from a file, so not in the config the logger was told of
      return { kid: eab.kid, hmacKey };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new RenewalError(
        `cannot read eab.hmacKeyFile ${eab.hmacKeyFile} (${code}); check the path and its permissions`,
        'unauthorized',
        domain,
        {},
        { cause: err },
      );
    }
  }
}

const apiOf = (client: acme.Client): AccountApi => (client as unknown as { api: AccountApi }).api;

function pick(account: { status?: string; contact?: string[] }): { status?: string; contact?: string[] } {
  return { ...(account.status ? { status: account.status } : {}), ...(account.contact ? { contact: account.contact } : {}) };
}

/** RFC 7638 JWK thumbprint, base64url: what the CA and key authorizations use to name the key. */
function thumbprint(keyPem: string): string {
  const jwk = crypto.createPublicKey(keyPem).export({ format: 'jwk' });
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}
