/**
 * The ACME issuer: acme-client 5.4 for the protocol (JWS, account, order calls) on our own transport
 * (acme-transport.ts: the issuer's CA trust, no retries, classified failures). issue() makes a fresh
 * certificate key and CSR, runs one order (acme-order.ts) with the configured challenge responder
 * and returns the chain with notAfter from the leaf. renewalInfo() asks the CA's ARI endpoint when
 * its directory has one. Every failure leaves as a RenewalError from classifyFailure. It makes one
 * attempt per call: retries, backoff and fallbacks are the worker's. It never logs keys or EAB secrets.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type https from 'node:https';
import * as acme from 'acme-client';
import type { AcmeIssuerConfig } from '../../config/renewal-schema';
import { ConfigError, RenewalError, messageOf } from '../../shared/errors';
import { createLogger, protectSecrets, type Logger } from '../../shared/log';
import { ariCertId, fetchRenewalInfo } from '../ari';
import { createResponder, type ChallengeResponder } from '../challenges';
import { classifyFailure } from '../failure';
import type { CertificateGroup, IssueContext, IssuedPair, Issuer, RenewalWindow } from '../types';
import { accountKeyPath, generateKey, loadOrCreateAccountKey } from './acme-keys';
import { AcmeOrderRun } from './acme-order';
import { AcmeTransport, createAgent } from './acme-transport';

// acme-client's axios retries a 429 by resending the same nonce and then reports badNonce; the
// worker does the retrying. Our transport bypasses that axios for ACME calls; this covers any other path.
(acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;

export const DIRECTORY_ALIASES: Record<string, string> = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
};

/** How long a fetched directory is trusted before it is read again (acme-client uses the same). */
const DIRECTORY_MAX_AGE_MS = 86_400_000;
/** RFC 5280's upper bound for a CN; longer names go in the SANs only. */
const MAX_COMMON_NAME = 64;

export interface AcmeRenewalSettings {
  stateDir: string;
  testMode: boolean;
  email?: string;
}

/** The directory URL and the issuer's default name: the alias, else the directory's host. */
export function resolveDirectory(directory: string | undefined, testMode: boolean): { url: string; name: string } {
  const alias = directory ?? (testMode ? 'letsencrypt-staging' : 'letsencrypt');
  const aliased = DIRECTORY_ALIASES[alias];
  if (aliased) return { url: aliased, name: alias };
  try {
    const url = new URL(alias);
    if (url.protocol === 'https:' || url.protocol === 'http:') return { url: alias, name: url.host };
  } catch {
    // reported below
  }
  throw new ConfigError(`renewal.issuers[].directory: expected an https:// (or http://) URL, letsencrypt or letsencrypt-staging, got ${JSON.stringify(alias)}`);
}

export function createAcmeIssuer(config: AcmeIssuerConfig, renewal: AcmeRenewalSettings, log?: Logger): Issuer {
  return new AcmeIssuer(config, renewal, log ?? createLogger('silent'));
}

/** The part of acme-client 5.4's internal AcmeApi used for registration (not in its typings). */
interface AccountApi {
  createAccount(data: Record<string, unknown>): Promise<unknown>;
  getAccountUrl(): string;
}

class AcmeIssuer implements Issuer {
  readonly type = 'acme' as const;
  readonly name: string;
  private readonly directoryUrl: string;
  private readonly responder: ChallengeResponder;
  private agent: https.Agent | undefined;
  private accountKey: string | undefined;
  private accountUrl: string | undefined;
  private registering: Promise<string> | undefined;
  private directory: { fetched: number; data: Record<string, unknown> } | undefined;

  constructor(
    private readonly config: AcmeIssuerConfig,
    private readonly renewal: AcmeRenewalSettings,
    log: Logger,
  ) {
    const directory = resolveDirectory(config.directory, renewal.testMode);
    this.directoryUrl = directory.url;
    this.name = config.name ?? directory.name;
    this.responder = createResponder(config.challenge, log);
  }

  async issue(group: CertificateGroup, context: IssueContext): Promise<IssuedPair> {
    const log = context.log;
    try {
      const transport = new AcmeTransport(this.trust(group.name));
      const client = await this.client(transport, group.name, log);
      const replaces = context.replacing ? await this.replacesId(transport, context.replacing, log) : undefined;
      const keyPem = generateKey(this.config.keyType);
      const [, csr] = await acme.crypto.createCsr(csrFields(group), keyPem);
      log.info({ issuer: this.name, group: group.name, domains: group.domains, profile: this.config.profile, replaces }, 'ordering a certificate');
      const chain = await new AcmeOrderRun(client, transport, this.responder, log).run({
        name: group.name,
        domains: group.domains,
        csr,
        ...(this.config.profile ? { profile: this.config.profile } : {}),
        ...(replaces ? { replaces } : {}),
        ...(this.config.preferredChain ? { preferredChain: this.config.preferredChain } : {}),
      });
      return issuedPair(chain, keyPem);
    } catch (err) {
      const failure = classifyFailure(err, group.name);
      // A deactivated or unknown account: register again next time.
      if (failure.reason === 'unauthorized') this.accountUrl = undefined;
      throw failure;
    }
  }

  async renewalInfo(certificatePem: string, log: Logger): Promise<RenewalWindow | undefined> {
    try {
      const transport = new AcmeTransport(this.trust(''));
      const renewalInfo = (await this.directoryDoc(transport)).renewalInfo;
      if (typeof renewalInfo !== 'string') return undefined;
      return await fetchRenewalInfo((url) => transport.request(url, 'get'), renewalInfo, certificatePem);
    } catch (err) {
      log.debug({ issuer: this.name, err: messageOf(err) }, 'no ACME renewal information');
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.responder.close();
    this.agent?.destroy();
  }

  /** The https.Agent with this issuer's `ca` files, read once. */
  private trust(domain: string): https.Agent {
    try {
      return (this.agent ??= createAgent(this.config.ca));
    } catch (err) {
      throw new RenewalError(`cannot read the issuer's ca files (${messageOf(err)}); check renewal.issuers[].ca`, 'connection', domain, {}, { cause: err });
    }
  }

  /** An acme-client Client on `transport`, with the account registered (once per issuer). */
  private async client(transport: AcmeTransport, domain: string, log: Logger): Promise<acme.Client> {
    // Concurrent orders share one registration: a second newAccount for the same key would be an
    // empty account update, which CAs refuse (Pebble: malformed).
    this.accountUrl ??= await (this.registering ??= this.register(domain, log).finally(() => (this.registering = undefined)));
    const client = new acme.Client({ directoryUrl: this.directoryUrl, accountKey: this.key(), accountUrl: this.accountUrl });
    transport.attach(client);
    return client;
  }

  private async register(domain: string, log: Logger): Promise<string> {
    const transport = new AcmeTransport(this.trust(domain));
    const eab = this.externalAccountBinding(domain);
    const client = new acme.Client({ directoryUrl: this.directoryUrl, accountKey: this.key(), ...(eab ? { externalAccountBinding: eab } : {}) });
    transport.attach(client);
    const email = this.config.email ?? this.renewal.email;
    // newAccount through acme-client's api object (same transport): its Client.createAccount answers
    // an existing account (HTTP 200, every restart) with an update carrying only
    // termsOfServiceAgreed, which CAs refuse as an empty update (Pebble: malformed).
    const api = (client as unknown as { api: AccountApi }).api;
    await transport.call(() => api.createAccount({ termsOfServiceAgreed: true, ...(email ? { contact: [`mailto:${email}`] } : {}) }));
    const url = api.getAccountUrl();
    log.info({ issuer: this.name, account: url }, 'ACME account ready');
    return url;
  }

  private key(): string {
    return (this.accountKey ??= loadOrCreateAccountKey(accountKeyPath(this.renewal.stateDir, this.directoryUrl)));
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

  /** ARI's certificate ID of the certificate being replaced, when the CA offers ARI. */
  private async replacesId(transport: AcmeTransport, currentPem: string, log: Logger): Promise<string | undefined> {
    if (typeof (await this.directoryDoc(transport)).renewalInfo !== 'string') return undefined;
    try {
      return ariCertId(currentPem);
    } catch (err) {
      log.debug({ issuer: this.name, err: messageOf(err) }, 'no ARI certificate ID for the current certificate; ordering without "replaces"');
      return undefined;
    }
  }

  private async directoryDoc(transport: AcmeTransport): Promise<Record<string, unknown>> {
    if (this.directory && Date.now() - this.directory.fetched < DIRECTORY_MAX_AGE_MS) return this.directory.data;
    const response = await transport.request(this.directoryUrl, 'get');
    if (response.status !== 200 || !response.data || typeof response.data !== 'object') {
      throw new Error(`the ACME directory answered HTTP ${response.status}`);
    }
    this.directory = { fetched: Date.now(), data: response.data as Record<string, unknown> };
    return this.directory.data;
  }
}

function csrFields(group: CertificateGroup): { commonName?: string; altNames: string[] } {
  const altNames = [...group.domains];
  // The first domain, not the group name: a configured group's name may be a directory name only.
  const [first] = altNames;
  return first && first.length <= MAX_COMMON_NAME ? { commonName: first, altNames } : { altNames };
}

function issuedPair(chain: string, privateKeyPem: string): IssuedPair {
  const leaf = new crypto.X509Certificate(chain);
  return {
    certificatePem: chain.endsWith('\n') ? chain : `${chain}\n`,
    privateKeyPem,
    notAfter: new Date(Date.parse(leaf.validTo)),
  };
}
