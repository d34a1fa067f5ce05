/**
 * What the renewer writes to the state file, one function per event: an attempt failed, a pair
 * was installed, a run succeeded, a run failed (which sets the next attempt from the backoff and
 * any Retry-After). Each is one locked read-modify-write (state/state.ts). Decides nothing.
 */
import type { Config } from '../config';
import type { RenewalError } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { Certificate } from '../cert';
import type { FailureReason } from '../state/failure-reasons';
import { backoffSeconds } from '../state/backoff';
import { updateState } from '../state/state';
import { emptyGroupState, type GroupState, type WorkerState } from '../state/state-types';
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

  installed(group: CertificateGroup, issuer: string, fallback: boolean, leaf: Certificate | undefined, verify?: Verification): Promise<void> {
    return this.update(group, (g) => {
      g.issuer = issuer;
      g.fallback = fallback;
      if (leaf) {
        g.serial = leaf.serial;
        g.notAfter = leaf.notAfter;
      }
      if (verify) g.verify = { result: verify.result, at: this.now(), detail: verify.detail };
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
