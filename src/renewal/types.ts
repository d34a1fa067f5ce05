/**
 * Shapes shared by the renewal modules: a certificate group, what an issuer returns, and the
 * issuer interface the worker calls. Plain types; no I/O.
 */
import type { KeyType } from '../config/renewal-schema';
import type { Logger } from '../shared/log';

/**
 * One certificate: its name (the directory under certs/) and every name it must cover. By default
 * the name is the first domain; a configured group's name may be a directory name only.
 */
export interface CertificateGroup {
  name: string;
  domains: string[];
}

export interface IssuedPair {
  /** PEM, leaf first, then the chain. */
  certificatePem: string;
  privateKeyPem: string;
  notAfter: Date;
}

/** A CA's suggested renewal window (ACME Renewal Information, RFC 9773). Unix seconds. */
export interface RenewalWindow {
  start: number;
  end: number;
  /** When to ask again (the response's Retry-After), Unix seconds. */
  retryAfter?: number;
  explanationUrl?: string;
}

export interface IssueContext {
  log: Logger;
  /** The current certificate's PEM (leaf first) when one exists: ARI's `replaces`. */
  replacing?: string;
  /** The key to certify (renewal.key.reuse); unset: the issuer makes a fresh one of its keyType. */
  privateKeyPem?: string;
  /** Aborted on shutdown: an order still polling gives up. */
  signal?: AbortSignal;
}

/** RFC 5280 CRLReason codes a subscriber may ask for (the ones Let's Encrypt accepts). */
export const REVOCATION_REASONS = { unspecified: 0, keyCompromise: 1, affiliationChanged: 3, superseded: 4, cessationOfOperation: 5 } as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export interface Issuer {
  /** Config `name`, or a default from the type/directory (`letsencrypt`, `selfsigned`). */
  readonly name: string;
  readonly type: 'acme' | 'selfsigned';
  /** The key type it certifies (renewal.key.reuse keeps a key only while it matches). */
  readonly keyType?: KeyType;
  /** ACME only: the account's key (its directory URL), for renewal.maxOrdersPerHour. */
  readonly account?: string;
  /** ACME only: a test CA whose certificates clients do not trust (letsencrypt-staging, or `staging: true`). */
  readonly staging?: boolean;
  issue(group: CertificateGroup, context: IssueContext): Promise<IssuedPair>;
  /** ACME only, when the directory offers `renewalInfo`: the CA's window for this certificate. */
  renewalInfo?(certificatePem: string, log: Logger): Promise<RenewalWindow | undefined>;
  /** ACME only: revokes a certificate (PEM, leaf first) with the issuer's account. */
  revoke?(certificatePem: string, reason: RevocationReason, domain: string, log: Logger): Promise<void>;
  /** Releases listeners and sockets (the http-01 responder). */
  close?(): Promise<void>;
}
