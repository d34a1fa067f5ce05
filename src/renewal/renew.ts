/**
 * Renews one certificate group, start to end, under the group's lock: find the pair Prosody uses
 * (current.ts, from the worker's scan: prosody-view.ts), retry a reload left pending by an earlier
 * run (deploy.ts), decide (policy.ts), hold back what is too soon (the spacing rule, the account's
 * hourly order cap: order-cap.ts), plan where the new pair goes so that Prosody finds it and only
 * it, or refuse before ordering (takeover.ts), try the CA issuers in order with `renewal.retry`
 * attempts each, fall back to self-signed only when policy allows, refuse a certificate that does
 * not verify when one in place does (trust.ts), install atomically moving aside what Prosody used
 * (install.ts), reload and verify (deploy.ts), and record every step in the state file
 * (record.ts). Each step is reported through `step`. Around a run that orders: the pre/post hooks
 * (hooks.ts); which key is certified: key-store.ts; the reload command gets the new certificate's
 * TLSA values (tlsa.ts). A shutdown (`signal`) starts no new attempt; an install that has begun
 * finishes with its reload. It does not schedule (processes/worker.ts) nor find groups (groups.ts).
 */
import path from 'node:path';
import type { Certificate } from '../cert';
import type { Config } from '../config';
import { thresholdsFor } from '../evaluate/thresholds';
import { RenewalError, messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { FailureReason } from '../state/failure-reasons';
import { LockError, withGroupLock } from '../state/lock';
import { readState } from '../state/state';
import type { GroupState } from '../state/state-types';
import { identitiesOf, type Identity } from '../discovery';
import { firstCertificate, inPlace, readCurrent, type CurrentPair } from './current';
import { Deployer } from './deploy';
import { asRenewalError } from './failure';
import { RunHooks } from './hooks';
import { installStarted } from './in-flight';
import { installPair } from './install';
import { CERT_FILE } from './install-layout';
import { KeyStore, type InstalledKey, type KeyChoice } from './key-store';
import { OrderSlots } from './order-cap';
import { decide, mayInstallFallback, type Decision } from './policy';
import type { ProsodyLookup } from './prosody-view';
import { GroupRecorder } from './record';
import { identitiesFor, tryPlanTakeover, type TakeoverPlan } from './takeover';
import { tlsaEnvironment } from './tlsa';
import { trustAnchors, verifyChain } from './trust';
import type { CertificateGroup, IssuedPair, Issuer, RenewalWindow } from './types';
import type { Verification } from './verify';

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
  /** Renew even when not due, and ignore a pending Retry-After, backoff or spacing wait. */
  force?: boolean;
  /** Only this issuer (by name); no fallback unless it is the self-signed one. */
  issuer?: string;
  /** With renewal.key.reuse: switch to the prepared next key (implies force). */
  rotateKey?: boolean;
  /** A fresh key, the prepared next one discarded too (after a key compromise; implies force). */
  freshKey?: boolean;
  /** Install a certificate that does not verify even when the one in place does. */
  allowUntrusted?: boolean;
  /** Retry a pending reload now, not at its backoff time (an operator's `renew DOMAIN`). */
  reloadNow?: boolean;
}

export interface RenewerDeps {
  config: Config;
  certsDir: string;
  /** What Prosody uses for each name (the worker's scan): the current pair and takeovers come from it. */
  lookup: ProsodyLookup;
  issuers: readonly Issuer[];
  log: Logger;
  /** Components (from discovery): probed over s2s only when verifying. */
  components?: ReadonlySet<string>;
  now?: () => number;
  /** Aborted on shutdown: no retry delay is waited out, no further attempt started. */
  signal?: AbortSignal;
  /** Every step, for the log (worker) or stdout (one-shot commands). */
  step: (group: CertificateGroup, text: string) => void;
  /** Warnings already given (kept by the worker across checks, so each is given once). */
  warned?: Set<string>;
}

/** Failures where trying again within the same run cannot help (or would hammer the CA). */
const FINAL_REASONS: ReadonlySet<FailureReason> = new Set(['unauthorized', 'bad_csr', 'rate_limited', 'config']);

type Tried = { pair: IssuedPair } | { error: RenewalError } | { heldUntil: number } | { stopped: true };

export class Renewer {
  private readonly now: () => number;
  private readonly record: GroupRecorder;
  private readonly keys: KeyStore;
  private readonly hooks: RunHooks;
  private readonly slots: OrderSlots;
  private readonly deploy: Deployer;
  private readonly warned: Set<string>;

  constructor(private readonly deps: RenewerDeps) {
    const { config, log } = deps;
    this.now = deps.now ?? (() => Date.now() / 1000);
    this.record = new GroupRecorder(config, log, this.now);
    this.keys = new KeyStore(config.renewal.stateDir, config.renewal.key, this.now);
    this.hooks = new RunHooks(config.renewal.hooks, log, (group, text) => this.step(group, text));
    this.slots = new OrderSlots(config.renewal.stateDir, config.renewal.maxOrdersPerHour, log, this.now);
    this.warned = deps.warned ?? new Set();
    const step = (group: CertificateGroup, text: string) => this.step(group, text);
    const lineage = (group: CertificateGroup) => this.lineage(group);
    this.deploy = new Deployer({ config, log, components: deps.components ?? new Set(), record: this.record, step, lineage, now: this.now, ...signalOf(deps) });
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

  /** `certs/<name>`: where the worker installs the group's pair (RENEWED_LINEAGE). */
  lineage(group: CertificateGroup): string {
    return path.join(this.deps.certsDir, group.name);
  }

  /** Waits for the group's lock (another worker may be renewing it), then renews if due. */
  async renew(group: CertificateGroup, options: RenewOptions = {}): Promise<RenewOutcome> {
    const signal = this.deps.signal;
    return withGroupLock(this.stateDir, group.name, () => this.renewLocked(group, options), this.deps.log, undefined, signal).catch((err: unknown) => {
      if (signal?.aborted && err instanceof LockError) return { group, result: 'waiting' as const };
      throw err;
    });
  }

  private async renewLocked(group: CertificateGroup, options: RenewOptions): Promise<RenewOutcome> {
    if (this.deps.signal?.aborted) return { group, result: 'waiting' }; // stopping: start nothing
    const force = options.force || options.rotateKey || options.freshKey || false;
    // Read once: the leaf decides, the PEM goes to ARI and to the new order's `replaces`.
    const current = await this.current(group);
    const { state } = await readState(this.stateDir);
    const g = state.groups[group.name];
    const reloadNow = force || options.reloadNow === true;
    const served = current.own?.pem ?? current.pem; // what a pending reload must get served: the worker's own pair
    const retried = served ? await this.deploy.retryPending(group, g, served, () => this.reloadEnv(group, served), reloadNow) : undefined;
    if (retried && 'error' in retried && retried.error?.reason === 'reload') {
      return { group, result: 'failed', error: retried.error, ...(retried.nextAttempt ? { nextAttempt: retried.nextAttempt } : {}) };
    }
    const reloadLater = retried && 'later' in retried ? retried.later : undefined;
    const replacing = current.leaf && !current.leaf.selfSigned ? current.pem : undefined;
    const decision = await this.decide(group, current, replacing, g);
    this.warnCapped(group, decision);
    if (!decision.due && !force) {
      this.step(group, `not due: renewal point ${iso(decision.dueAt)} (${decision.reason})`);
      if (g?.heldBack) await this.record.held(group, undefined);
      return { group, result: 'not_due', decision, ...(reloadLater ? { nextAttempt: reloadLater } : {}) };
    }
    if (decision.waitUntil && !force) {
      this.step(group, `due (${decision.reason}) but waiting until ${iso(decision.waitUntil)} (Retry-After or backoff)`);
      return { group, result: 'waiting', decision, nextAttempt: decision.waitUntil };
    }
    const hold = force ? undefined : (decision.hold ?? (await this.orderCapHold(options.issuer)));
    if (hold) return this.heldBack(group, decision, hold, g);
    if (g?.heldBack) await this.record.held(group, undefined);
    this.step(group, force && !decision.due ? 'forced renewal' : `due: ${describeDue(decision)}`);
    // Where the new pair goes must be where Prosody then finds it, and only it: or nothing is ordered.
    const takeover = this.planTakeover(group, identitiesFor(group), 'Nothing was ordered');
    if (takeover instanceof RenewalError) return this.refuse(group, decision, takeover);
    const installed: InstalledKey = {
      ...(current.keyPem !== undefined ? { keyPem: current.keyPem } : {}),
      ...(current.pem ? { certificatePem: current.pem } : {}),
    };
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
    current: CurrentPair,
    replacing: string | undefined,
    installed: InstalledKey,
    options: RenewOptions,
  ): Promise<RenewOutcome> {
    const chosen = chooseIssuers(this.deps.issuers, options.issuer);
    const request = { ...(options.rotateKey ? { rotate: true } : {}), ...(options.freshKey ? { fresh: true } : {}) };
    let failure: RenewalError | undefined;
    for (const issuer of chosen.primary) {
      const key = await this.chooseKey(group, issuer, installed, request);
      const tried = await this.tryIssuer(issuer, group, replacing, undefined, key);
      if ('pair' in tried) return this.complete(group, tried.pair, issuer, false, decision, current, options, undefined, key);
      if ('heldUntil' in tried) return this.heldBack(group, decision, { reason: 'order_cap', until: tried.heldUntil });
      if ('stopped' in tried) return { group, result: 'waiting', decision };
      failure = tried.error;
      if (this.deps.signal?.aborted) break;
    }
    const fallback = this.deps.signal?.aborted ? undefined : chosen.fallback;
    const inPlace = fallback ? this.inPlace(current) : [];
    if (fallback && mayInstallFallback(inPlace, this.now(), decision.reason)) {
      this.step(group, `no CA could issue; falling back to a self-signed certificate (${fallback.name})`);
      const key = await this.chooseKey(group, fallback, installed, request);
      const tried = await this.tryIssuer(fallback, group, replacing, 1, key);
      if ('pair' in tried) return this.complete(group, tried.pair, fallback, true, decision, current, options, failure, key);
      if ('error' in tried) failure = tried.error;
    } else if (fallback) {
      const kept = inPlace.find((c) => c.trusted) ?? inPlace[0];
      this.step(group, `keeping the certificate Prosody uses (${kept?.file ?? current.file}): a valid certificate is never replaced by a self-signed one`);
    }
    return this.recordRunFailure(group, decision, failure ?? new RenewalError(`no issuer configured for ${group.name}`, 'unknown', group.name));
  }

  /** The pair Prosody uses for the group now (current.ts), read under the lock. */
  private current(group: CertificateGroup): Promise<CurrentPair> {
    return readCurrent(this.deps.lookup, group, this.now(), (text) => this.step(group, text));
  }

  /** Every certificate Prosody may use for the group, and whether it verifies (system roots plus probes.ca). */
  private inPlace(current: CurrentPair) {
    return inPlace(current, trustAnchors(this.deps.config.probes.ca, this.deps.log), this.now());
  }

  /** takeover.ts on the view in use; the refusal as a value. */
  private planTakeover(group: CertificateGroup, identities: readonly Identity[], then: string): TakeoverPlan | RenewalError {
    return tryPlanTakeover(this.deps.lookup.view(), group, identities, then);
  }

  /** A takeover the worker must not make: said, counted (reason config) and retried on the backoff schedule. */
  private async refuse(group: CertificateGroup, decision: Decision, error: RenewalError): Promise<RenewOutcome> {
    this.step(group, `failed (${error.reason}): ${error.message}`);
    await this.record.attemptFailed(group, error);
    return this.recordRunFailure(group, decision, error);
  }

  /** `caPem`: the current certificate when a CA issued it (the only kind ARI speaks of). */
  private async decide(group: CertificateGroup, current: CurrentPair, caPem: string | undefined, state: GroupState | undefined): Promise<Decision> {
    const ca = this.deps.issuers.find((i) => i.renewalInfo !== undefined);
    const window = caPem && ca?.renewalInfo ? await ca.renewalInfo(caPem, this.deps.log) : undefined;
    // Names Prosody serves from another valid file that covers them are not asked of this one.
    const domains = group.domains.filter((d) => !current.coveredElsewhere.includes(d));
    return this.decideFor(group, current.leaf, window, state, domains);
  }

  private decideFor(group: CertificateGroup, current: Certificate | undefined, window?: RenewalWindow, state?: GroupState, domains = group.domains): Decision {
    const cas = this.deps.issuers.filter((i) => i.type !== 'selfsigned');
    const staging = current !== undefined && isStaging(current, state) && !cas.some((i) => i.staging);
    return decide({
      domains,
      ...(current ? { current } : {}),
      now: this.now(),
      renewal: thresholdsFor(group.name, this.deps.config.thresholds).renewal,
      caConfigured: cas.length > 0,
      stagingInPlace: staging && cas.length > 0,
      minSpacing: this.deps.config.renewal.minSpacing,
      ...(window ? { window } : {}),
      ...(state ? { state } : {}),
    });
  }

  /** A threshold at or above the lifetime: said once per group (and lifetime), not at every check. */
  private warnCapped(group: CertificateGroup, decision: Decision): void {
    const capped = decision.capped;
    if (!capped || this.warned.has(`capped:${group.name}:${capped.used}`)) return;
    this.warned.add(`capped:${group.name}:${capped.used}`);
    const text = `thresholds.renewal (${duration(capped.configured)} before expiry) is at or above the certificate's lifetime (${duration(capped.used * 2)}): it would renew again right after each renewal; renewing at half the lifetime instead. Lower thresholds.renewal (e.g. auto or a percentage)`;
    this.deps.log.warn({ group: group.name }, `${group.name}: ${text}`);
    this.step(group, `warning: ${text}`);
  }

  /** The first ACME issuer that would be tried: its account's hourly cap, before any hook runs. */
  private async orderCapHold(only: string | undefined): Promise<{ reason: 'order_cap'; until: number } | undefined> {
    const first = chooseIssuers(this.deps.issuers, only).primary[0];
    if (!first?.account) return undefined;
    const until = await this.slots.fullUntil(first.account);
    return until === undefined ? undefined : { reason: 'order_cap', until };
  }

  /** Due but held back without a failure: recorded (xmpp_cert_renewal_held_back), and the worker wakes at `until`. */
  private async heldBack(group: CertificateGroup, decision: Decision, hold: NonNullable<Decision['hold']>, g?: GroupState): Promise<RenewOutcome> {
    const why =
      hold.reason === 'spacing'
        ? spacingText(g, hold.until)
        : `the ACME account started renewal.maxOrdersPerHour (${this.deps.config.renewal.maxOrdersPerHour}) orders within the last hour; the next one waits for a free slot`;
    this.step(group, `due (${decision.reason}) but held back until ${iso(hold.until)}: ${why}`);
    if (g?.heldBack?.reason !== hold.reason || g.heldBack.until !== hold.until) await this.record.held(group, hold);
    return { group, result: 'waiting', decision: { ...decision, hold }, nextAttempt: hold.until };
  }

  /** renewal.key: the key to certify with this issuer, or undefined (the issuer makes one). */
  private async chooseKey(group: CertificateGroup, issuer: Issuer, installed: InstalledKey, request: { rotate?: boolean; fresh?: boolean }) {
    const key = await this.keys.choose(group.name, issuer.keyType, installed, request);
    if (key) this.step(group, `key: ${key.why}`);
    return key;
  }

  /**
   * Up to `retry.count` attempts, `retry.delay` apart; never earlier than a CA's Retry-After. Each
   * attempt at an ACME issuer takes a slot of its account's hourly cap first; none free ends the
   * run as held back. A shutdown ends it before the next attempt.
   */
  private async tryIssuer(
    issuer: Issuer,
    group: CertificateGroup,
    replacing: string | undefined,
    attempts = this.deps.config.renewal.retry.count || 1,
    key?: KeyChoice,
  ): Promise<Tried> {
    let error: RenewalError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.deps.signal?.aborted) return { stopped: true };
      if (issuer.account) {
        const full = await this.slots.reserve(issuer.account);
        if (full !== undefined) return error ? { error } : { heldUntil: full };
      }
      this.step(group, `attempt ${attempt}/${attempts} with ${issuer.name}`);
      try {
        const context = { log: this.deps.log, ...(replacing ? { replacing } : {}), ...(key ? { privateKeyPem: key.pem } : {}), ...signalOf(this.deps) };
        const pair = await issuer.issue(group, context);
        this.step(group, `issued by ${issuer.name}, valid until ${pair.notAfter.toISOString()}`);
        return { pair };
      } catch (err) {
        // Cut short by a shutdown: not the CA's failure, and no backoff for the next start.
        if (this.deps.signal?.aborted) return { stopped: true };
        error = asRenewalError(err, group.name);
        await this.record.attemptFailed(group, error);
        this.step(group, `failed (${error.reason}): ${error.message}`);
        if (FINAL_REASONS.has(error.reason as FailureReason) || attempt === attempts) break;
        // A Retry-After later than our own delay ends the run: the scheduler honours it (state nextAttempt).
        const delay = this.deps.config.renewal.retry.delay;
        const retryAfter = error.details.retryAfter;
        if (retryAfter !== undefined && retryAfter - this.now() > delay) break;
        this.step(group, `next attempt in ${delay}s`);
        await this.sleep(delay * 1000);
        if (this.deps.signal?.aborted) {
          this.step(group, 'stopping: no further attempt');
          break;
        }
      }
    }
    return { error: error! };
  }

  /** Trust, install, reload, verify, record. A failure after issuing keeps the installed pair (or the old one). */
  private async complete(
    group: CertificateGroup,
    pair: IssuedPair,
    issuer: Issuer,
    fallback: boolean,
    decision: Decision,
    current: CurrentPair,
    options: RenewOptions,
    caFailure?: RenewalError,
    key?: KeyChoice,
  ): Promise<RenewOutcome> {
    const install = this.deps.config.renewal.install;
    const leaf = firstCertificate(pair.certificatePem);
    const nextDue = leaf ? this.decideFor(group, leaf).dueAt : undefined;
    const refused = fallback ? undefined : this.untrusted(group, pair, issuer, current, options);
    if (refused) {
      await this.record.attemptFailed(group, refused);
      return this.recordRunFailure(group, decision, refused);
    }
    // The plan again with the names the certificate really carries.
    const takeover = leaf ? this.planTakeover(group, identitiesOf(leaf), 'The new certificate was not installed') : { entries: [], leftAlone: [] };
    if (takeover instanceof RenewalError) return this.refuse(group, decision, takeover);
    // From the swap until the reload has returned, a shutdown waits (in-flight.ts).
    const installDone = installStarted();
    try {
      const installed = await installPair(this.deps.certsDir, group.name, pair, { ...install, supersede: takeover.entries });
      this.step(group, `installed ${installed.certificate} and ${installed.key} (key mode ${install.keyMode.toString(8).padStart(4, '0')})`);
      if (installed.superseded && installed.superseded.entries.length > 0) {
        this.step(group, `took over from what Prosody used before: moved ${installed.superseded.entries.join(', ')} into ${installed.superseded.dir}`);
      }
      for (const file of takeover.leftAlone) this.step(group, `note: Prosody no longer uses ${file} (outside the certificate directory, left in place)`);
      for (const warning of installed.warnings) this.step(group, `warning: ${warning}`);
    } catch (err) {
      installDone();
      const error = asRenewalError(err, group.name, 'install');
      await this.record.attemptFailed(group, error);
      this.step(group, `failed (${error.reason}): ${error.message}`);
      return this.recordRunFailure(group, decision, error);
    }
    const env = await this.recordKey(group, pair, issuer, key).catch((err: unknown) => {
      installDone();
      throw err;
    });
    // Prosody finds a different path for a name now (a takeover): its first reload may use its old index (deploy.ts).
    const ownCert = path.join(this.deps.certsDir, group.name, CERT_FILE);
    const moved = current.candidates.some((c) => c.file !== ownCert);
    const deployed = await this.deploy.reloadAndVerify(group, pair.certificatePem, env, installDone, moved);
    const info = { issuer: issuer.name, fallback, leaf, staging: issuer.staging === true, succeeded: !fallback };
    const retry = await this.record.installed(group, info, deployed);
    const after = { ...(deployed.verify ? { verify: deployed.verify } : {}), ...(nextDue ? { nextDue } : {}) };
    if (deployed.error)
      return { group, result: 'failed', decision, issuer: issuer.name, error: deployed.error, ...after, ...(retry ? { nextAttempt: retry } : {}) };
    if (fallback) return this.recordRunFailure(group, decision, caFailure!, 'fallback', issuer.name, deployed.verify);
    return { group, result: 'renewed', decision, issuer: issuer.name, ...after };
  }

  /**
   * Trust before install: a certificate that does not verify (system roots plus probes.ca) never
   * replaces one that does, unless allowed (`renew --allow-untrusted`). Returns the refusal.
   */
  private untrusted(group: CertificateGroup, pair: IssuedPair, issuer: Issuer, current: CurrentPair, options: RenewOptions): RenewalError | undefined {
    const anchors = trustAnchors(this.deps.config.probes.ca, this.deps.log);
    const fresh = verifyChain(pair.certificatePem, anchors, this.now());
    if (fresh.trusted) return undefined;
    const before = this.inPlace(current).find((c) => c.trusted);
    if (!before) {
      // A self-signed certificate never verifies: saying so at each install (npm start's) is noise.
      if (issuer.type !== 'selfsigned')
        this.step(group, `note: the new certificate does not verify (${fresh.detail}); installed anyway, the one in place does not verify either`);
      return undefined;
    }
    if (options.allowUntrusted) {
      this.step(group, `warning: the new certificate does not verify (${fresh.detail}); installing it anyway (--allow-untrusted)`);
      return undefined;
    }
    const message = `${group.name}: the certificate ${issuer.name} issued does not verify (${fresh.detail}), but the one in place does (${before.detail}); it was not installed. A staging CA or a wrong chain? Trust its root in probes.ca, or install it anyway with "xmpp-cert renew ${group.domains[0]} --force --allow-untrusted"`;
    this.step(group, `failed (untrusted): ${message}`);
    return new RenewalError(message, 'untrusted', group.name);
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
    this.step(group, `${result === 'fallback' ? 'self-signed fallback in place' : 'renewal failed'}; next attempt not before ${iso(nextAttempt)}`);
    return { group, result, decision, error, nextAttempt, ...(issuer ? { issuer } : {}), ...(verify ? { verify } : {}) };
  }

  /** After an install: the key store learns the key in use; returns the TLSA values for the reload command. */
  private async recordKey(group: CertificateGroup, pair: IssuedPair, issuer: Issuer, key: KeyChoice | undefined): Promise<Record<string, string>> {
    try {
      await this.keys.installed(group.name, pair.privateKeyPem, issuer.keyType, key?.source);
    } catch (err) {
      this.step(group, `cannot record the key for reuse in ${this.stateDir}/keys (${messageOf(err)}); the next renewal makes a fresh key`);
    }
    return this.reloadEnv(group, pair.certificatePem);
  }

  /** The reload command's TLSA values for the certificate in place (without the next key when it cannot be read). */
  private async reloadEnv(group: CertificateGroup, certificatePem: string): Promise<Record<string, string>> {
    const next = this.deps.config.renewal.key.reuse ? await this.keys.next(group.name).catch(() => undefined) : undefined;
    return tlsaEnvironment(certificatePem, next);
  }

  private step(group: CertificateGroup, text: string): void {
    this.deps.step(group, text);
  }
}

/** CA issuers first (all tried in order); the self-signed one is kept as the fallback. `only`: just that one. */
export function chooseIssuers(issuers: readonly Issuer[], only: string | undefined): { primary: Issuer[]; fallback?: Issuer } {
  if (only) {
    const one = issuers.find((i) => i.name === only);
    if (!one) throw new RenewalError(`no issuer named "${only}" (configured: ${issuers.map((i) => i.name).join(', ') || 'none'})`, 'config', '');
    return { primary: [one] };
  }
  const primary = issuers.filter((i) => i.type !== 'selfsigned');
  const selfSigned = issuers.find((i) => i.type === 'selfsigned');
  if (primary.length === 0) return { primary: selfSigned ? [selfSigned] : [] };
  return { primary, ...(selfSigned ? { fallback: selfSigned } : {}) };
}

/** Installed from a staging issuer (the state says so for this serial), or Let's Encrypt's staging hierarchy. */
function isStaging(leaf: Certificate, state: GroupState | undefined): boolean {
  if (state?.staging && state.serial === leaf.serial) return true;
  return /(^|,\s*|\n)(CN|O)=\(STAGING\)/.test(leaf.issuer);
}

function spacingText(g: GroupState | undefined, until: number): string {
  const at = g?.lastIssued !== undefined ? iso(g.lastIssued) : 'recently';
  return `a CA issued it at ${at}, and renewal.minSpacing (at most half that certificate's lifetime) keeps the next issuance for the same names until ${iso(until)}; a renewal point this early suggests a loop (see the runbook, XmppCertRenewalHeldBack)`;
}

const signalOf = (d: { signal?: AbortSignal }) => (d.signal ? { signal: d.signal } : {});
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

function duration(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${Math.round(seconds)}s`;
}

function describeDue(d: Decision): string {
  switch (d.reason) {
    case 'missing':
      return 'no certificate';
    case 'expired':
      return `expired at ${iso(d.dueAt)}`;
    case 'staging':
      return 'a staging (test) certificate is in place and no staging issuer is configured any more';
    case 'self_signed':
      return 'a self-signed certificate is in place and a CA issuer is configured';
    case 'not_covered':
      return `${d.uncovered} is not covered by the current certificate`;
    case 'ari_window':
      return `inside the CA's renewal window (from ${iso(d.dueAt)}), before the threshold's renewal point`;
    case 'threshold':
      return `past the renewal point ${iso(d.dueAt)}`;
  }
}
