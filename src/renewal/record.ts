/**
 * What the renewer writes to the state file, one function per event: an attempt failed, a pair
 * was installed (which clears the previous verify result and any pending reload), a verify result,
 * a reload that failed (pending, retried on the backoff schedule) or came through, a group held
 * back or no longer, a run succeeded, a run failed (which sets the next attempt from the backoff and
 * any Retry-After). Each is one locked read-modify-write (state/state.ts). Decides nothing.
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

export class GroupRecorder {
  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  attemptFailed(group: CertificateGroup, error: RenewalError): Promise<void> {
    const reason = error.reason as FailureReason;
    return this.update(group, (g) => {
      g.failures[reason] = (g.failures[reason] ?? 0) + 1;
      g.lastAttempt = g.lastFailure = this.now();
      g.lastReason = reason;
      g.lastError = error.message;
      if (reason === 'validation') {
        g.lastFailureDomain = error.domain;
        if (error.details.challenge) g.lastFailureChallenge = error.details.challenge;
      }
    });
  }

  /** A new pair is in place: what it is; nothing is known yet about what Prosody serves. */
  installed(group: CertificateGroup, issuer: string, fallback: boolean, leaf: Certificate | undefined, staging: boolean): Promise<void> {
    return this.update(group, (g) => {
      g.issuer = issuer;
      g.fallback = fallback;
      if (leaf) {
        g.serial = leaf.serial;
        g.notAfter = leaf.notAfter;
      }
      if (staging) g.staging = true;
      else delete g.staging;
      if (!fallback) {
        g.lastIssued = this.now();
        g.issuedDomains = [...group.domains];
      }
      delete g.verify;
      delete g.reloadPending;
    });
  }

  /** What Prosody served after a reload that went through (so no reload is pending any more). */
  verified(group: CertificateGroup, verify: Verification): Promise<void> {
    return this.update(group, (g) => {
      g.verify = { result: verify.result, at: this.now(), detail: verify.detail };
      delete g.reloadPending;
    });
  }

  /** The reload after an install failed: pending, next try on the backoff schedule. Returns when. */
  async reloadFailed(group: CertificateGroup, error: RenewalError): Promise<number> {
    const { initial, max } = this.config.renewal.backoff;
    let next = 0;
    await this.update(group, (g) => {
      const attempts = (g.reloadPending?.attempts ?? 0) + 1;
      next = this.now() + backoffSeconds(attempts, initial, max);
      g.reloadPending = { since: g.reloadPending?.since ?? this.now(), attempts, nextAttempt: next, error: error.message };
      delete g.verify;
    });
    return next;
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

  succeeded(group: CertificateGroup): Promise<void> {
    return this.update(group, (g) => {
      g.successes++;
      g.consecutiveFailures = 0;
      g.lastSuccess = g.lastAttempt = this.now();
      delete g.nextAttempt;
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
