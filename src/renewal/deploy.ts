/**
 * After an install: tell Prosody (`renewal.reload`), then check what it serves (verify.ts). On a
 * mismatch after the verify window it reloads once more and verifies again (a reload by someone
 * else can land between our swap and Prosody's two file opens), then reports: bounded, never a loop.
 * A reload that fails leaves the new pair installed and the reload pending, with no verify result
 * (the previous one said nothing about this certificate); retryPending() tries again at each check
 * once the backoff allows, until one goes through, and records it. After an install the renewer
 * records the result with the install, in one write (record.ts). Decides nothing about renewing.
 *
 * When the install changed which path Prosody finds for a name (a takeover, `twice`), it reloads
 * twice, a second apart: on SIGHUP Prosody 0.12 runs its config-reloaded handlers in hash order,
 * so mod_tls may build a host's TLS context before certmanager has re-indexed the certificate
 * directory, from the index of the previous load, which still names the files just moved away
 * (the host then has no TLS until the next reload). The second reload finds the new index. A
 * pending reload is retried the same way: it may be the first since a takeover.
 */
import type { Config } from '../config';
import { RenewalError, messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { GroupState } from '../state/state-types';
import { asRenewalError } from './failure';
import type { Deployed, GroupRecorder } from './record';
import { reload } from './reload';
import type { CertificateGroup } from './types';
import { verifyServed, type Verification } from './verify';

/** Reloads after a mismatch, per install. */
const EXTRA_RELOADS = 1;
/** Between the two reloads after a takeover: long enough for Prosody to handle the first signal on its own. */
const SECOND_RELOAD_MS = 1000;

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

  /**
   * Reload (with `env` for the command), then verify that `certificatePem` is served. Records
   * nothing. `reloaded` is called once the reload has returned (done or failed), before verifying.
   */
  async reloadAndVerify(
    group: CertificateGroup,
    certificatePem: string,
    env: Record<string, string>,
    reloaded: () => void = () => undefined,
    twice = false,
  ): Promise<Deployed> {
    const { config } = this.deps;
    if (config.renewal.reload) {
      try {
        this.step(group, (await reload(config.renewal.reload, group, this.deps.lineage(group), env)).did);
        if (twice) {
          // Not cut short by a shutdown: two signals too close together may reach Prosody as one.
          await new Promise((resolve) => setTimeout(resolve, SECOND_RELOAD_MS));
          const again = await reload(config.renewal.reload, group, this.deps.lineage(group), env);
          this.step(group, `reloading once more, as after every change of the files Prosody finds (its index may lag one reload): ${again.did}`);
        }
      } catch (err) {
        const error = asRenewalError(err, group.name, 'reload');
        this.step(group, `failed (reload): ${error.message}; the reload stays pending and is tried again at the next checks`);
        return { error };
      } finally {
        reloaded();
      }
    }
    reloaded();
    const verify = await this.verify(group, certificatePem, env);
    if (verify.result !== 'mismatch') return { verify };
    return { verify, error: new RenewalError(`${group.name}: ${verify.detail}`, 'verify', group.name) };
  }

  /**
   * A reload left pending by an earlier run: tried again when its time has come (or `now`), and
   * recorded. `later`: not yet (the caller wakes then); undefined: nothing is pending.
   */
  async retryPending(
    group: CertificateGroup,
    g: GroupState | undefined,
    certificatePem: string,
    env: () => Promise<Record<string, string>>,
    now: boolean,
  ): Promise<(Deployed & { nextAttempt?: number }) | { later: number } | undefined> {
    const pending = g?.reloadPending;
    if (!pending) return undefined;
    if (!this.deps.config.renewal.reload) {
      this.step(group, 'a reload was pending, but renewal.reload is no longer set: reload Prosody yourself');
      await this.deps.record.reloadDropped(group);
      return undefined;
    }
    if (!now && pending.nextAttempt > this.deps.now()) return { later: pending.nextAttempt };
    this.step(group, `the new certificate is installed but not reloaded since ${iso(pending.since)} (${pending.attempts} failed): reloading again`);
    const deployed = await this.reloadAndVerify(group, certificatePem, await env(), undefined, true);
    const nextAttempt = await this.deps.record.reloadRetried(group, deployed);
    if (nextAttempt !== undefined) this.step(group, `the reload is still pending; next try from ${iso(nextAttempt)}`);
    return nextAttempt !== undefined ? { ...deployed, nextAttempt } : deployed;
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
