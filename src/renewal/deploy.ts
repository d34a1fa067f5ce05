/**
 * After an install: tell Prosody (`renewal.reload`), then check what it serves (verify.ts). On a
 * mismatch after the verify window it reloads once more and verifies again (a reload by someone
 * else can land between our swap and Prosody's two file opens), then reports: bounded, never a loop.
 * A reload that fails leaves the new pair installed and the reload pending, with no verify result
 * (the previous one said nothing about this certificate); retryPending() tries again at each check
 * once the backoff allows, until one goes through. Records what happened (record.ts); decides
 * nothing about renewing.
 */
import type { Config } from '../config';
import { RenewalError, messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { GroupState } from '../state/state-types';
import { asRenewalError } from './failure';
import type { GroupRecorder } from './record';
import { reload } from './reload';
import type { CertificateGroup } from './types';
import { verifyServed, type Verification } from './verify';

/** Reloads after a mismatch, per install. */
const EXTRA_RELOADS = 1;

export interface Deployed {
  verify?: Verification;
  /** The reload failed (reason reload: pending), or the verify found the old certificate served (reason verify). */
  error?: RenewalError;
  /** With a failed reload: when it is tried again. */
  nextAttempt?: number;
}

export interface DeployDeps {
  config: Config;
  log: Logger;
  components: ReadonlySet<string>;
  signal?: AbortSignal;
  record: GroupRecorder;
  step: (group: CertificateGroup, text: string) => void;
  lineage: (group: CertificateGroup) => string;
  now: () => number;
}

export class Deployer {
  constructor(private readonly deps: DeployDeps) {}

  /** Reload (with `env` for the command), then verify that `certificatePem` is served. */
  async reloadAndVerify(group: CertificateGroup, certificatePem: string, env: Record<string, string>): Promise<Deployed> {
    const { config, record } = this.deps;
    if (config.renewal.reload) {
      try {
        this.step(group, (await reload(config.renewal.reload, group, this.deps.lineage(group), env)).did);
      } catch (err) {
        const error = asRenewalError(err, group.name, 'reload');
        await record.attemptFailed(group, error);
        const nextAttempt = await record.reloadFailed(group, error);
        this.step(group, `failed (reload): ${error.message}; the reload is pending and tried again from ${iso(nextAttempt)}`);
        return { error, nextAttempt };
      }
    }
    const verify = await this.verify(group, certificatePem, env);
    await record.verified(group, verify);
    if (verify.result !== 'mismatch') return { verify };
    const error = new RenewalError(`${group.name}: ${verify.detail}`, 'verify', group.name);
    await record.attemptFailed(group, error);
    return { verify, error };
  }

  /**
   * A reload left pending by an earlier run: tried again when its time has come (or `force`).
   * 'later': not yet (the caller wakes at `nextAttempt`); undefined: nothing is pending.
   */
  async retryPending(group: CertificateGroup, g: GroupState | undefined, certificatePem: string, env: () => Promise<Record<string, string>>, force: boolean) {
    const pending = g?.reloadPending;
    if (!pending) return undefined;
    if (!this.deps.config.renewal.reload) {
      this.step(group, 'a reload was pending, but renewal.reload is no longer set: reload Prosody yourself');
      await this.deps.record.reloadDropped(group);
      return undefined;
    }
    if (!force && pending.nextAttempt > this.deps.now()) return { later: pending.nextAttempt };
    this.step(group, `the new certificate is installed but not reloaded since ${iso(pending.since)} (${pending.attempts} failed): reloading again`);
    return this.reloadAndVerify(group, certificatePem, await env());
  }

  /** Probes until the new leaf is served; on a mismatch, reloads once more (bounded) and probes again. */
  private async verify(group: CertificateGroup, certificatePem: string, env: Record<string, string>): Promise<Verification> {
    const { config, components, log, signal } = this.deps;
    const options = { say: (text: string) => this.step(group, text), ...(signal ? { signal } : {}) };
    let verify = await verifyServed(group, certificatePem, config, components, log, options);
    this.step(group, `verify: ${verify.result}: ${verify.detail}`);
    for (let extra = 0; extra < EXTRA_RELOADS && verify.result === 'mismatch' && config.renewal.reload && !signal?.aborted; extra++) {
      try {
        this.step(group, `reloading once more: ${(await reload(config.renewal.reload, group, this.deps.lineage(group), env)).did}`);
      } catch (err) {
        this.step(group, `the second reload failed: ${messageOf(err)}`);
        break;
      }
      verify = await verifyServed(group, certificatePem, config, components, log, options);
      this.step(group, `verify: ${verify.result}: ${verify.detail}`);
    }
    return verify;
  }

  private step(group: CertificateGroup, text: string): void {
    this.deps.step(group, text);
  }
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
