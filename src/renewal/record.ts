/**
 * What the renewer writes to the state file, one function per event: an attempt failed; a pair was
 * installed, with what its reload and verify found (a failed reload pending, retried on the backoff
 * schedule; the previous verify result never kept) and, for a CA renewal, the success; a pending
 * reload tried again; a group held back or no longer; a run failed (which sets the next attempt
 * from the backoff and any Retry-After). Each is one locked read-modify-write (state/state.ts), so
 * an order costs two writes besides its order slot. Decides nothing.
 */
import type { Config } from '../config';
import type { RenewalError } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { Certificate } from '../cert';
import type { FailureReason } from '../state/failure-reasons';
import { backoffSeconds } from '../state/backoff';
import { updateState } from '../state/state';
import { emptyGroupState, type GroupState, type HoldReason, type WorkerState } from '../state/state-types';
import type { CertificateGroup } from './types';
import type { Verification } from './verify';

/** What was installed: which issuer, a fallback or not, its leaf, from a staging CA; `succeeded`: a CA renewal that counts as a success once served. */
export interface InstalledInfo {
  issuer: string;
  fallback: boolean;
  leaf: Certificate | undefined;
  staging: boolean;
  succeeded: boolean;
}

/** What the reload and verify after an install found (deploy.ts). */
export interface Deployed {
  verify?: Verification;
  /** The reload failed (reason reload: pending), or Prosody still serves the old certificate (reason verify). */
  error?: RenewalError;
}

export class GroupRecorder {
  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  attemptFailed(group: CertificateGroup, error: RenewalError): Promise<void> {
    return this.update(group, (g) => this.countFailure(g, error));
  }

  /**
   * A new pair is in place, and what its reload and verify found: one write. A pending reload is
   * retried on the backoff schedule; the previous verify result is never kept (it said nothing
   * about this certificate). Returns when a failed reload is tried again.
   */
  async installed(group: CertificateGroup, pair: InstalledInfo, after: Deployed): Promise<number | undefined> {
    let retry: number | undefined;
    await this.update(group, (g) => {
      g.issuer = pair.issuer;
      g.fallback = pair.fallback;
      if (pair.leaf) {
        g.serial = pair.leaf.serial;
        g.notAfter = pair.leaf.notAfter;
      }
      if (pair.staging) g.staging = true;
      else delete g.staging;
      if (!pair.fallback) {
        g.lastIssued = this.now();
        g.issuedDomains = [...group.domains];
      }
      delete g.verify;
      delete g.reloadPending;
      retry = this.deployed(g, after);
      if (pair.succeeded && !after.error) {
        g.successes++;
        g.consecutiveFailures = 0;
        g.lastSuccess = g.lastAttempt = this.now();
        delete g.nextAttempt;
      }
    });
    return retry;
  }

  /** A pending reload tried again: one write. Returns when it is tried next, if it failed again. */
  async reloadRetried(group: CertificateGroup, after: Deployed): Promise<number | undefined> {
    let retry: number | undefined;
    await this.update(group, (g) => (retry = this.deployed(g, after)));
    return retry;
  }

  /** No reload is configured any more: nothing can be retried. */
  reloadDropped(group: CertificateGroup): Promise<void> {
    return this.update(group, (g) => void delete g.reloadPending);
  }

  /** Due but held back (spacing, order cap), or (undefined) no longer. */
  held(group: CertificateGroup, hold: { reason: HoldReason; until: number } | undefined): Promise<void> {
    return this.update(group, (g) => {
      if (hold) g.heldBack = hold;
      else delete g.heldBack;
    });
  }

  /** A run that left no new CA certificate: returns the earliest next attempt (Unix seconds). */
  async runFailed(group: CertificateGroup, error: RenewalError): Promise<number> {
    const { initial, max } = this.config.renewal.backoff;
    let next = 0;
    await this.update(group, (g) => {
      g.consecutiveFailures++;
      next = Math.max(this.now() + backoffSeconds(g.consecutiveFailures, initial, max), error.details.retryAfter ?? 0);
      g.nextAttempt = next;
    });
    return next;
  }

  /** The reload's and verify's result on the group: a failed reload pending (returns its next try), or the verify result. */
  private deployed(g: GroupState, after: Deployed): number | undefined {
    if (after.error) this.countFailure(g, after.error);
    if (after.error?.reason === 'reload') {
      const { initial, max } = this.config.renewal.backoff;
      const attempts = (g.reloadPending?.attempts ?? 0) + 1;
      const nextAttempt = this.now() + backoffSeconds(attempts, initial, max);
      g.reloadPending = { since: g.reloadPending?.since ?? this.now(), attempts, nextAttempt, error: after.error.message };
      delete g.verify;
      return nextAttempt;
    }
    delete g.reloadPending;
    if (after.verify) g.verify = { result: after.verify.result, at: this.now(), detail: after.verify.detail };
    return undefined;
  }

  private countFailure(g: GroupState, error: RenewalError): void {
    const reason = error.reason as FailureReason;
    g.failures[reason] = (g.failures[reason] ?? 0) + 1;
    g.lastAttempt = g.lastFailure = this.now();
    g.lastReason = reason;
    g.lastError = error.message;
    if (reason === 'validation') {
      g.lastFailureDomain = error.domain;
      if (error.details.challenge) g.lastFailureChallenge = error.details.challenge;
    }
  }

  /** One locked read-modify-write; a corrupt state file found on the way is logged and rebuilt. */
  private async update(group: CertificateGroup, change: (g: GroupState) => void): Promise<void> {
    await updateState(
      this.config.renewal.stateDir,
      (s: WorkerState) => {
        const g = (s.groups[group.name] ??= emptyGroupState(group.domains));
        g.domains = group.domains;
        change(g);
      },
      this.log,
    );
  }
}
