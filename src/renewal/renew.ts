/**
 * Renews one certificate group, start to end, under the group's lock: re-read the current
 * certificate, decide (policy.ts), try the CA issuers in order with `renewal.retry` attempts
 * each, fall back to self-signed only when policy allows, install atomically, reload, verify the
 * served leaf, and record every attempt in the state file. Each step is reported through `step`.
 * Around a run that orders: the pre/post hooks (hooks.ts); which key is certified: key-store.ts;
 * the reload command gets the new certificate's TLSA values (tlsa.ts).
 * What is written to the state file is in record.ts. It does not schedule (processes/worker.ts) nor find
 * groups (groups.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseCertificates, type Certificate } from '../cert';
import type { Config } from '../config';
import { thresholdsFor } from '../evaluate/thresholds';
import { RenewalError, messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { FailureReason } from '../state/failure-reasons';
import { installPair } from './install';
import { withGroupLock } from '../state/lock';
import { decide, mayInstallFallback, type Decision } from './policy';
import { RunHooks } from './hooks';
import { KeyStore, type InstalledKey, type KeyChoice } from './key-store';
import { GroupRecorder } from './record';
import { reload } from './reload';
import { tlsaEnvironment } from './tlsa';
import { readState } from '../state/state';
import type { GroupState } from '../state/state-types';
import type { CertificateGroup, IssuedPair, Issuer, RenewalWindow } from './types';
import { verifyServed, type Verification } from './verify';

export type RenewResult = 'renewed' | 'fallback' | 'not_due' | 'waiting' | 'failed';

export interface RenewOutcome {
  group: CertificateGroup;
  result: RenewResult;
  decision?: Decision;
  issuer?: string;
  /** The last failure (a renewal may still end `fallback`, or `failed` after issuing: reload, verify). */
  error?: RenewalError;
  verify?: Verification;
  nextAttempt?: number;
  /** After an install: when the new certificate will be due (the worker wakes then). */
  nextDue?: number;
}

export interface RenewOptions {
  /** Renew even when not due, and ignore a pending Retry-After/backoff wait. */
  force?: boolean;
  /** Only this issuer (by name); no fallback unless it is the self-signed one. */
  issuer?: string;
  /** With renewal.key.reuse: switch to the prepared next key (implies force). */
  rotateKey?: boolean;
  /** A fresh key, the prepared next one discarded too (after a key compromise; implies force). */
  freshKey?: boolean;
}

export interface RenewerDeps {
  config: Config;
  certsDir: string;
  issuers: readonly Issuer[];
  log: Logger;
  /** Components (from discovery): probed over s2s only when verifying. */
  components?: ReadonlySet<string>;
  now?: () => number;
  /** Aborted on shutdown: no retry delay is waited out, no further attempt started. */
  signal?: AbortSignal;
  /** Every step, for the log (worker) or stdout (one-shot commands). */
  step: (group: CertificateGroup, text: string) => void;
}

/** Failures where trying again within the same run cannot help (or would hammer the CA). */
const FINAL_REASONS: ReadonlySet<FailureReason> = new Set(['unauthorized', 'bad_csr', 'rate_limited', 'config']);

export class Renewer {
  private readonly now: () => number;
  private readonly record: GroupRecorder;
  private readonly keys: KeyStore;
  private readonly hooks: RunHooks;

  constructor(private readonly deps: RenewerDeps) {
    this.now = deps.now ?? (() => Date.now() / 1000);
    this.record = new GroupRecorder(deps.config, deps.log, this.now);
    this.keys = new KeyStore(deps.config.renewal.stateDir, deps.config.renewal.key, this.now);
    this.hooks = new RunHooks(deps.config.renewal.hooks, deps.log, (group, text) => this.step(group, text));
  }

  /** Resolves after `ms`, or at once when the worker is stopping. */
  private sleep(ms: number): Promise<void> {
    const signal = this.deps.signal;
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  get stateDir(): string {
    return this.deps.config.renewal.stateDir;
  }

  /** `certs/<name>/fullchain.pem`: where the group's certificate lives. */
  lineage(group: CertificateGroup): string {
    return path.join(this.deps.certsDir, group.name);
  }

  /** Waits for the group's lock (another worker may be renewing it), then renews if due. */
  async renew(group: CertificateGroup, options: RenewOptions = {}): Promise<RenewOutcome> {
    return withGroupLock(this.stateDir, group.name, () => this.renewLocked(group, options), this.deps.log);
  }

  private async renewLocked(group: CertificateGroup, options: RenewOptions): Promise<RenewOutcome> {
    // Read once: the leaf decides, the PEM goes to ARI and to the new order's `replaces`.
    const pem = await this.currentPem(group);
    const current = pem ? parseLeaf(pem) : undefined;
    const replacing = current && !current.selfSigned ? pem : undefined;
    const { state } = await readState(this.stateDir);
    const decision = await this.decide(group, current, replacing, state.groups[group.name]);
    const force = options.force || options.rotateKey || options.freshKey;
    if (!decision.due && !force) {
      this.step(group, `not due: renewal point ${new Date(decision.dueAt * 1000).toISOString()} (${decision.reason})`);
      return { group, result: 'not_due', decision };
    }
    if (decision.waitUntil && !force) {
      this.step(group, `due (${decision.reason}) but waiting until ${new Date(decision.waitUntil * 1000).toISOString()} (Retry-After or backoff)`);
      return { group, result: 'waiting', decision, nextAttempt: decision.waitUntil };
    }
    this.step(group, force && !decision.due ? 'forced renewal' : `due: ${describeDue(decision)}`);
    const installed: InstalledKey = { keyPem: await this.currentKey(group), ...(pem ? { certificatePem: pem } : {}) };
    return this.hooks.around(
      group,
      this.lineage(group),
      () => this.order(group, decision, current, replacing, installed, options),
      async (error) => {
        await this.record.attemptFailed(group, error);
        return this.recordRunFailure(group, decision, error);
      },
    );
  }

  /** The CA issuers in order, then the self-signed fallback when policy allows; install the first pair. */
  private async order(
    group: CertificateGroup,
    decision: Decision,
    current: Certificate | undefined,
    replacing: string | undefined,
    installed: InstalledKey,
    options: RenewOptions,
  ): Promise<RenewOutcome> {
    const chosen = this.chooseIssuers(options.issuer);
    const request = { ...(options.rotateKey ? { rotate: true } : {}), ...(options.freshKey ? { fresh: true } : {}) };
    let failure: RenewalError | undefined;
    for (const issuer of chosen.primary) {
      const key = await this.chooseKey(group, issuer, installed, request);
      const issued = await this.tryIssuer(issuer, group, replacing, undefined, key);
      if ('pair' in issued) return this.complete(group, issued.pair, issuer, false, decision, undefined, key);
      failure = issued.error;
    }
    const fallback = chosen.fallback;
    if (fallback && mayInstallFallback(current, this.now(), decision.reason)) {
      this.step(group, `no CA could issue; falling back to a self-signed certificate (${fallback.name})`);
      const key = await this.chooseKey(group, fallback, installed, request);
      const issued = await this.tryIssuer(fallback, group, replacing, 1, key);
      if ('pair' in issued) return this.complete(group, issued.pair, fallback, true, decision, failure, key);
      failure = issued.error;
    } else if (fallback && current) {
      this.step(group, 'keeping the current certificate: a valid certificate is never replaced by a self-signed one');
    }
    return this.recordRunFailure(group, decision, failure ?? new RenewalError(`no issuer configured for ${group.name}`, 'unknown', group.name));
  }

  /** `caPem`: the current certificate when a CA issued it (the only kind ARI speaks of). */
  private async decide(group: CertificateGroup, current: Certificate | undefined, caPem: string | undefined, state: GroupState | undefined): Promise<Decision> {
    const ca = this.deps.issuers.find((i) => i.renewalInfo !== undefined);
    const window = caPem && ca?.renewalInfo ? await ca.renewalInfo(caPem, this.deps.log) : undefined;
    return this.decideFor(group, current, window, state);
  }

  private decideFor(group: CertificateGroup, current: Certificate | undefined, window?: RenewalWindow, state?: GroupState): Decision {
    return decide({
      domains: group.domains,
      ...(current ? { current } : {}),
      now: this.now(),
      renewal: thresholdsFor(group.name, this.deps.config.thresholds).renewal,
      caConfigured: this.deps.issuers.some((i) => i.type !== 'selfsigned'),
      ...(window ? { window } : {}),
      ...(state ? { state } : {}),
    });
  }

  /** CA issuers first (all tried in order); the self-signed one is kept as the fallback. */
  private chooseIssuers(name: string | undefined): { primary: Issuer[]; fallback?: Issuer } {
    const issuers = this.deps.issuers;
    if (name) {
      const only = issuers.find((i) => i.name === name);
      if (!only) throw new RenewalError(`no issuer named "${name}" (configured: ${issuers.map((i) => i.name).join(', ')})`, 'unknown', '');
      return { primary: [only] };
    }
    const primary = issuers.filter((i) => i.type !== 'selfsigned');
    const selfSigned = issuers.find((i) => i.type === 'selfsigned');
    if (primary.length === 0) return { primary: selfSigned ? [selfSigned] : [] };
    return { primary, ...(selfSigned ? { fallback: selfSigned } : {}) };
  }

  /** renewal.key: the key to certify with this issuer, or undefined (the issuer makes one). */
  private async chooseKey(group: CertificateGroup, issuer: Issuer, installed: InstalledKey, request: { rotate?: boolean; fresh?: boolean }) {
    const key = await this.keys.choose(group.name, issuer.keyType, installed, request);
    if (key) this.step(group, `key: ${key.why}`);
    return key;
  }

  /** Up to `retry.count` attempts, `retry.delay` apart; never earlier than a CA's Retry-After. */
  private async tryIssuer(
    issuer: Issuer,
    group: CertificateGroup,
    replacing: string | undefined,
    attempts = this.deps.config.renewal.retry.count || 1,
    key?: KeyChoice,
  ): Promise<{ pair: IssuedPair } | { error: RenewalError }> {
    let error: RenewalError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      this.step(group, `attempt ${attempt}/${attempts} with ${issuer.name}`);
      try {
        const context = { log: this.deps.log, ...(replacing ? { replacing } : {}), ...(key ? { privateKeyPem: key.pem } : {}) };
        const pair = await issuer.issue(group, context);
        this.step(group, `issued by ${issuer.name}, valid until ${pair.notAfter.toISOString()}`);
        return { pair };
      } catch (err) {
        error = asRenewalError(err, group);
        await this.record.attemptFailed(group, error);
        this.step(group, `failed (${error.reason}): ${error.message}`);
        if (FINAL_REASONS.has(error.reason as FailureReason) || attempt === attempts) break;
        // A Retry-After later than our own delay ends the run: the scheduler honours it (state nextAttempt).
        const delay = this.deps.config.renewal.retry.delay;
        const retryAfter = error.details.retryAfter;
        if (retryAfter !== undefined && retryAfter - this.now() > delay) break;
        this.step(group, `next attempt in ${delay}s`);
        await this.sleep(delay * 1000);
        if (this.deps.signal?.aborted) break;
      }
    }
    return { error: error! };
  }

  /** Install, reload, verify, record. A failure after issuing keeps the installed pair (or the old one). */
  private async complete(
    group: CertificateGroup,
    pair: IssuedPair,
    issuer: Issuer,
    fallback: boolean,
    decision: Decision,
    caFailure?: RenewalError,
    key?: KeyChoice,
  ): Promise<RenewOutcome> {
    const { install, reload: reloadConfig } = this.deps.config.renewal;
    const leaf = parseLeaf(pair.certificatePem);
    const nextDue = leaf ? this.decideFor(group, leaf).dueAt : undefined;
    try {
      const installed = await installPair(this.deps.certsDir, group.name, pair, install);
      this.step(group, `installed ${installed.certificate} and ${installed.key} (key mode ${install.keyMode.toString(8).padStart(4, '0')})`);
      const env = await this.recordKey(group, pair, issuer, key);
      if (reloadConfig) this.step(group, (await reload(reloadConfig, group, this.lineage(group), env)).did);
    } catch (err) {
      const error = asRenewalError(err, group, 'install');
      await this.record.attemptFailed(group, error);
      this.step(group, `failed (${error.reason}): ${error.message}`);
      if (error.reason === 'install') return this.recordRunFailure(group, decision, error);
      await this.record.installed(group, issuer.name, fallback, leaf);
      return { group, result: 'failed', decision, issuer: issuer.name, error, ...(nextDue ? { nextDue } : {}) };
    }
    const verify = await this.verify(group, pair.certificatePem);
    await this.record.installed(group, issuer.name, fallback, leaf, verify);
    if (verify.result === 'mismatch') {
      const error = new RenewalError(`${group.name}: ${verify.detail}`, 'verify', group.name);
      await this.record.attemptFailed(group, error);
      return { group, result: 'failed', decision, issuer: issuer.name, error, verify, ...(nextDue ? { nextDue } : {}) };
    }
    if (fallback) return this.recordRunFailure(group, decision, caFailure!, 'fallback', issuer.name, verify);
    await this.record.succeeded(group);
    return { group, result: 'renewed', decision, issuer: issuer.name, verify, ...(nextDue ? { nextDue } : {}) };
  }

  /**
   * Probes until the new leaf is served. On a mismatch, reloads once more: a reload by someone else
   * that landed between our swap and Prosody's two file opens can leave the previous context loaded.
   */
  private async verify(group: CertificateGroup, certificatePem: string): Promise<Verification> {
    const { config, components, log } = this.deps;
    let verify = await verifyServed(group, certificatePem, config, components ?? new Set(), log);
    this.step(group, `verify: ${verify.result}: ${verify.detail}`);
    if (verify.result !== 'mismatch' || !config.renewal.reload) return verify;
    try {
      this.step(group, `reloading once more: ${(await reload(config.renewal.reload, group, this.lineage(group))).did}`);
      verify = await verifyServed(group, certificatePem, config, components ?? new Set(), log);
      this.step(group, `verify: ${verify.result}: ${verify.detail}`);
    } catch (err) {
      this.step(group, `the second reload failed: ${messageOf(err)}`);
    }
    return verify;
  }

  /** After a failed run: the next attempt waits for the backoff and any Retry-After. */
  private async recordRunFailure(
    group: CertificateGroup,
    decision: Decision,
    error: RenewalError,
    result: RenewResult = 'failed',
    issuer?: string,
    verify?: Verification,
  ): Promise<RenewOutcome> {
    const nextAttempt = await this.record.runFailed(group, error);
    this.step(
      group,
      `${result === 'fallback' ? 'self-signed fallback in place' : 'renewal failed'}; next attempt not before ${new Date(nextAttempt * 1000).toISOString()}`,
    );
    return { group, result, decision, error, nextAttempt, ...(issuer ? { issuer } : {}), ...(verify ? { verify } : {}) };
  }

  /** After an install: the key store learns the key in use; returns the TLSA values for the reload command. */
  private async recordKey(group: CertificateGroup, pair: IssuedPair, issuer: Issuer, key: KeyChoice | undefined): Promise<Record<string, string>> {
    try {
      await this.keys.installed(group.name, pair.privateKeyPem, issuer.keyType, key?.source);
    } catch (err) {
      this.step(group, `cannot record the key for reuse in ${this.stateDir}/keys (${messageOf(err)}); the next renewal makes a fresh key`);
    }
    return tlsaEnvironment(pair.certificatePem, this.deps.config.renewal.key.reuse ? await this.keys.next(group.name) : undefined);
  }

  private async currentKey(group: CertificateGroup): Promise<string | undefined> {
    return fs.promises.readFile(path.join(this.lineage(group), 'privkey.pem'), 'utf8').catch(() => undefined);
  }

  private async currentPem(group: CertificateGroup): Promise<string> {
    return fs.promises.readFile(path.join(this.lineage(group), 'fullchain.pem'), 'utf8').catch(() => '');
  }

  private step(group: CertificateGroup, text: string): void {
    this.deps.step(group, text);
  }
}

function parseLeaf(pem: string): Certificate | undefined {
  const parsed = parseCertificates(Buffer.from(pem));
  return parsed.ok ? parsed.certificates[0] : undefined;
}

function asRenewalError(err: unknown, group: CertificateGroup, reason: FailureReason = 'unknown'): RenewalError {
  if (err instanceof RenewalError) return err;
  return new RenewalError(`${group.name}: ${messageOf(err)}`, reason, group.name, {}, { cause: err });
}

function describeDue(d: Decision): string {
  switch (d.reason) {
    case 'missing':
      return 'no certificate';
    case 'expired':
      return `expired at ${new Date(d.dueAt * 1000).toISOString()}`;
    case 'self_signed':
      return 'a self-signed certificate is in place and a CA issuer is configured';
    case 'not_covered':
      return `${d.uncovered} is not covered by the current certificate`;
    case 'ari_window':
      return `inside the CA's renewal window (from ${new Date(d.dueAt * 1000).toISOString()})`;
    case 'threshold':
      return `past the renewal point ${new Date(d.dueAt * 1000).toISOString()}`;
  }
}
