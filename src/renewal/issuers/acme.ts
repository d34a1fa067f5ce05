/**
 * The ACME issuer: acme-client 5.4 for the protocol (JWS, account, order calls) on our own transport
 * (acme-transport.ts: the issuer's CA trust, no retries, classified failures); the account is
 * acme-account.ts's. issue() checks a configured profile against the directory, takes the key it
 * is given (key reuse) or makes a fresh one, makes the CSR, runs one order (acme-order.ts) with the
 * challenge router (one responder per name's rule) and returns the chain with notAfter from the
 * leaf. renewalInfo() asks the CA's ARI endpoint when its directory has one; revoke() revokes. Every failure leaves as a RenewalError from classifyFailure. It makes one
 * attempt per call: retries, backoff and fallbacks are the worker's. It never logs keys or EAB secrets.
 */
import crypto from 'node:crypto';
import * as acme from 'acme-client';
import type { AcmeIssuerConfig } from '../../config/renewal-schema';
import { RenewalError, messageOf } from '../../shared/errors';
import { createLogger, type Logger } from '../../shared/log';
import { ariCertId, fetchRenewalInfo } from '../ari';
import { createRouter, type ChallengeRouter } from '../challenges';
import { classifyFailure } from '../failure';
import type { CertificateGroup, IssueContext, IssuedPair, Issuer, RenewalWindow, RevocationReason } from '../types';
import { AcmeAccount, type AcmeRenewalSettings } from './acme-account';
import { generateKey } from './acme-keys';
import { AcmeOrderRun } from './acme-order';
import type { AcmeTransport } from './acme-transport';
import { DIRECTORY_ALIASES, resolveDirectory } from './directory';

export type { AcmeRenewalSettings } from './acme-account';

// acme-client's axios retries a 429 by resending the same nonce and then reports badNonce; the
// worker does the retrying. Our transport bypasses that axios for ACME calls; this covers any other path.
(acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;

/** RFC 5280's upper bound for a CN; longer names go in the SANs only. */
const MAX_COMMON_NAME = 64;

export function createAcmeIssuer(config: AcmeIssuerConfig, renewal: AcmeRenewalSettings, log?: Logger): Issuer {
  return new AcmeIssuer(config, renewal, log ?? createLogger('silent'));
}

/** The account of an ACME issuer config, for the account and revoke commands (no challenge responders). */
export function createAcmeAccount(config: AcmeIssuerConfig, renewal: AcmeRenewalSettings): AcmeAccount {
  const directory = resolveDirectory(config.directory, renewal.testMode);
  return new AcmeAccount(config, renewal, directory.url, config.name ?? directory.name);
}

class AcmeIssuer implements Issuer {
  readonly type = 'acme' as const;
  readonly name: string;
  private readonly acmeAccount: AcmeAccount;
  readonly keyType: AcmeIssuerConfig['keyType'];
  readonly account: string;
  readonly staging: boolean;
  private readonly router: ChallengeRouter;

  constructor(
    private readonly config: AcmeIssuerConfig,
    renewal: AcmeRenewalSettings,
    log: Logger,
  ) {
    this.acmeAccount = createAcmeAccount(config, renewal);
    this.name = this.acmeAccount.issuerName;
    const directory = resolveDirectory(config.directory, renewal.testMode);
    this.account = directory.url;
    this.staging = config.staging ?? directory.url === DIRECTORY_ALIASES['letsencrypt-staging'];
    this.keyType = config.keyType;
    this.router = createRouter(config.challenge, log);
  }

  async issue(group: CertificateGroup, context: IssueContext): Promise<IssuedPair> {
    const log = context.log;
    try {
      const transport = this.acmeAccount.transport(group.name);
      await this.checkProfile(transport, group.name);
      const client = await this.acmeAccount.client(transport, group.name, log);
      const replaces = context.replacing ? await this.replacesId(transport, context.replacing, log) : undefined;
      const keyPem = context.privateKeyPem ?? generateKey(this.config.keyType);
      const [, csr] = await acme.crypto.createCsr(csrFields(group), keyPem);
      log.info({ issuer: this.name, group: group.name, domains: group.domains, profile: this.config.profile, replaces }, 'ordering a certificate');
      const chain = await new AcmeOrderRun(client, transport, this.router, log).run(
        {
          name: group.name,
          domains: group.domains,
          csr,
          ...(this.config.profile ? { profile: this.config.profile } : {}),
          ...(replaces ? { replaces } : {}),
          ...(this.config.preferredChain ? { preferredChain: this.config.preferredChain } : {}),
        },
        context.signal,
      );
      return issuedPair(chain, keyPem);
    } catch (err) {
      const failure = classifyFailure(err, group.name);
      if (failure.reason === 'unauthorized') this.acmeAccount.forget();
      throw failure;
    }
  }

  async renewalInfo(certificatePem: string, log: Logger): Promise<RenewalWindow | undefined> {
    try {
      const transport = this.acmeAccount.transport('');
      const renewalInfo = (await this.acmeAccount.directoryDoc(transport)).renewalInfo;
      if (typeof renewalInfo !== 'string') return undefined;
      return await fetchRenewalInfo((url) => transport.request(url, 'get'), renewalInfo, certificatePem);
    } catch (err) {
      log.debug({ issuer: this.name, err: messageOf(err) }, 'no ACME renewal information');
      return undefined;
    }
  }

  revoke(certificatePem: string, reason: RevocationReason, domain: string, log: Logger): Promise<void> {
    return this.acmeAccount.revoke(certificatePem, reason, domain, log).catch((err: unknown) => {
      throw classifyFailure(err, domain);
    });
  }

  async close(): Promise<void> {
    await this.router.close();
    this.acmeAccount.close();
  }

  /**
   * A configured profile must be one the CA offers (the directory's meta.profiles, RFC draft
   * acme-profiles): a CA that does not know it would ignore it (Pebble 2.4) or refuse the order.
   */
  private async checkProfile(transport: AcmeTransport, domain: string): Promise<void> {
    const profile = this.config.profile;
    if (!profile) return;
    const meta = (await this.acmeAccount.directoryDoc(transport)).meta as { profiles?: Record<string, unknown> } | undefined;
    const offered = meta?.profiles && typeof meta.profiles === 'object' ? Object.keys(meta.profiles) : [];
    if (offered.includes(profile)) return;
    const what = offered.length > 0 ? `offers only ${offered.join(', ')}` : 'offers no profiles (its directory has no meta.profiles)';
    throw new RenewalError(`renewal.issuers[].profile "${profile}" is not offered by ${this.name}: the CA ${what}; change or remove profile`, 'config', domain);
  }

  /** ARI's certificate ID of the certificate being replaced, when the CA offers ARI. */
  private async replacesId(transport: AcmeTransport, currentPem: string, log: Logger): Promise<string | undefined> {
    if (typeof (await this.acmeAccount.directoryDoc(transport)).renewalInfo !== 'string') return undefined;
    try {
      return ariCertId(currentPem);
    } catch (err) {
      log.debug({ issuer: this.name, err: messageOf(err) }, 'no ARI certificate ID for the current certificate; ordering without "replaces"');
      return undefined;
    }
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
