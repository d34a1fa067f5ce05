/**
 * Wiring of the worker process (`worker`, the worker half of `run`, and the one-shot `auto-renew`
 * and `renew`): the renewer (src/renewal/) and the notifier (src/notify/) meet only here.
 * The schedule: a check at start-up, then one every `renewal.checkInterval` plus a random
 * jitter, and one at each group's own next time (its renewal point, or the end of a Retry-After or
 * backoff), whichever comes first. A check scans like the exporter, forms the groups and renews
 * the due ones, `renewal.concurrency` at a time. A heartbeat goes to the state file every minute
 * (a one-shot `auto-renew` writes one per run, marked as a timer's with the timer's period).
 * stop() starts no new attempt, ends retry delays and lock waits at once, and waits for the run
 * in progress only while it installs and reloads (an install is never cut short).
 * Without `renewal.issuers` nothing is renewed: each check says which keys to set.
 * node-schedule holds the timer: a check interval may exceed setTimeout's 24.8-day limit.
 * Each outcome goes to the notifier (src/notify/), which queues and delivers renewal events.
 */
import path from 'node:path';
import schedule from 'node-schedule';
import type { LoadedConfig } from '../config';
import { NO_ISSUER } from '../config/renewal-schema';
import { ConfigError, messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';
import { Notifier } from '../notify/notifier';
import { InventoryScanner } from '../sources/inventory';
import type { Inventory } from '../model/inventory';
import { certificateGroups, watchedGroup } from '../renewal/groups';
import { dryRun, dryRunRenewal, type DryRunOutcome } from '../renewal/dry-run';
import { recoverInstall } from '../renewal/install';
import { withGroupLock } from '../state/lock';
import { closeIssuers, createIssuers } from '../renewal/issuers';
import { installing } from '../renewal/in-flight';
import { ProsodyView, type ProsodyLookup } from '../renewal/prosody-view';
import { identitiesFor, tryPlanTakeover } from '../renewal/takeover';
import { Renewer, type RenewOptions, type RenewOutcome } from '../renewal/renew';
import { KeyStore } from '../renewal/key-store';
import { revokeInstalled, type Revoked } from '../renewal/revoke';
import { inLanes } from '../shared/lanes';
import { updateState } from '../state/state';
import { SERVICE_HEARTBEAT_SECONDS } from '../state/state-types';
import type { CertificateGroup, Issuer, RevocationReason } from '../renewal/types';

const HEARTBEAT_MS = SERVICE_HEARTBEAT_SECONDS * 1000;

export interface WorkerOptions {
  /** Each step of each renewal (the worker logs them; one-shot commands print them). */
  step?: (group: CertificateGroup, text: string) => void;
  /** After a check that installed something: `run` rescans so /metrics shows it at once. */
  onInstalled?: () => void;
  /**
   * A one-shot run started by a timer (`auto-renew`): its heartbeat says so, with the timer's
   * period in seconds, so the heartbeat alert waits for the next run instead of a minute.
   */
  timerInterval?: number;
}

export class Worker {
  private readonly scanner: InventoryScanner;
  private readonly issuers: Issuer[];
  private readonly abort = new AbortController();
  private job: schedule.Job | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** The heartbeat write in flight: stop() waits for it, so no state lock outlives the worker. */
  private beating: Promise<void> = Promise.resolve();
  private checking: Promise<RenewOutcome[]> | undefined;
  /** One-shot runs in progress (renew, revoke, dry run): stop() waits for them too. */
  private readonly running = new Set<Promise<unknown>>();
  private recovered = new Set<string>();
  /** Warnings given once per process (a capped threshold), across checks. */
  private readonly warned = new Set<string>();
  private stopping: Promise<void> | undefined;
  private readonly notifier: Notifier;

  constructor(
    private readonly loaded: LoadedConfig,
    private readonly log: Logger,
    private readonly options: WorkerOptions = {},
  ) {
    this.scanner = new InventoryScanner(loaded.config);
    this.issuers = createIssuers(loaded.config.renewal, log);
    this.notifier = new Notifier(loaded.config, log);
  }

  private get config() {
    return this.loaded.config;
  }

  async start(): Promise<void> {
    this.beat();
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    await this.notifier.start();
    await this.runAndReschedule();
  }

  /** Renews every due group once; concurrent callers share the check in progress. */
  check(): Promise<RenewOutcome[]> {
    this.checking ??= this.doCheck().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /** The group holding `domain` (refused when no watched group holds it), renewed now. */
  renewDomain(domain: string, options: RenewOptions): Promise<RenewOutcome> {
    return this.track(async () => {
      this.checkIssuer(options.issuer);
      const { inventory, renewer } = await this.prepare();
      if (!renewer) throw new ConfigError('no certificate directory: set prosody.certs');
      const outcome = await renewer.renew(watchedGroup(domain, this.groups(inventory)), { reloadNow: true, ...options });
      await this.notifier.renewalOutcome(outcome);
      return outcome;
    });
  }

  /** `renew --dry-run`: the order against the issuer's staging directory (or the configured CA), nothing else. */
  dryRunDomain(domain: string, options: { issuer?: string }): Promise<DryRunOutcome> {
    return this.track(async () => {
      this.checkIssuer(options.issuer);
      const inventory = await this.scanner.scan();
      const group = watchedGroup(domain, this.groups(inventory));
      const issuers = createIssuers(dryRunRenewal(this.config.renewal), this.log);
      const step = this.options.step ?? ((g: CertificateGroup, text: string) => this.log.info({ group: g.name }, `${g.name}: ${text}`));
      try {
        const lineage = path.join(inventory.certsDir ?? '', group.name);
        const staging = issuers.map((i) => i.name);
        const only = options.issuer ? staging[this.issuers.findIndex((i) => i.name === options.issuer)] : undefined;
        const facts = this.scanner.lookupFacts;
        const takeover = facts ? tryPlanTakeover(new ProsodyView(inventory, facts), group, identitiesFor(group), 'Nothing would be ordered') : undefined;
        const deps = { config: this.config, log: this.log, step, signal: this.abort.signal, lineage, ...(takeover ? { takeover } : {}) };
        return await dryRun(group, issuers, only, deps);
      } finally {
        await closeIssuers(issuers);
      }
    });
  }

  /**
   * Revokes the installed certificate of the group holding `domain`, then (unless `renew` is
   * false) renews it at once; after a key compromise with a fresh key, the prepared next one too.
   */
  revokeDomain(domain: string, reason: RevocationReason, options: { issuer?: string; renew: boolean }): Promise<{ revoked: Revoked; outcome?: RenewOutcome }> {
    return this.track(async () => {
      const { inventory, renewer } = await this.prepare();
      if (!renewer || !inventory.certsDir) throw new ConfigError('no certificate directory: set prosody.certs');
      const group = watchedGroup(domain, this.groups(inventory), 'revoke');
      const { stateDir } = this.config.renewal;
      const keys = new KeyStore(stateDir, this.config.renewal.key, () => Date.now() / 1000);
      const request = { certsDir: inventory.certsDir, stateDir, group, reason, issuers: this.issuers, keys, log: this.log };
      const revoked = await revokeInstalled({ ...request, ...(options.issuer ? { issuer: options.issuer } : {}) });
      this.options.step?.(group, `revoked serial ${revoked.serial} at ${revoked.issuer} (${reason})`);
      if (!options.renew) return { revoked };
      const outcome = await renewer.renew(group, { force: true, ...(reason === 'keyCompromise' ? { freshKey: true } : {}) });
      await this.notifier.renewalOutcome(outcome);
      return { revoked, outcome };
    });
  }

  /** `--issuer NAME` must name a configured issuer, forced or not; no issuer at all is said the same way. */
  private checkIssuer(name: string | undefined): void {
    if (this.issuers.length === 0) throw new ConfigError(NO_ISSUER);
    if (name === undefined || this.issuers.some((i) => i.name === name)) return;
    throw new ConfigError(
      `--issuer ${name}: no issuer of that name in renewal.issuers (configured: ${this.issuers.map((i) => i.name).join(', ')}); a name is the issuer's "name", else letsencrypt, letsencrypt-staging, the directory's host or selfsigned. To try an order without installing anything, use --dry-run`,
    );
  }

  private track<T>(run: () => Promise<T>): Promise<T> {
    const promise = run();
    this.running.add(promise);
    void promise.catch(() => undefined).finally(() => this.running.delete(promise));
    return promise;
  }

  get hasIssuers(): boolean {
    return this.issuers.length > 0;
  }

  /** Idempotent: a signal handler and a command's own clean-up may both call it. */
  /** An install is between its swap and its reload (renewal/in-flight.ts): a shutdown deadline waits for it. */
  get installing(): boolean {
    return installing();
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.abort.abort();
    this.job?.cancel();
    clearInterval(this.heartbeat);
    await this.checking?.catch(() => undefined);
    await Promise.all([...this.running].map((p) => p.catch(() => undefined)));
    await this.beating;
    await this.notifier.stop();
    await closeIssuers(this.issuers);
  }

  private async doCheck(): Promise<RenewOutcome[]> {
    if (this.issuers.length === 0) {
      this.log.error(NO_ISSUER);
      this.beat();
      return [];
    }
    const { inventory, renewer } = await this.prepare();
    if (!renewer) {
      this.log.error('no certificate directory (prosody.certs, or Prosody\'s "certificates" option): nothing can be renewed');
      return [];
    }
    const groups = this.groups(inventory);
    const outcomes = await inLanes(
      groups,
      this.config.renewal.concurrency,
      async (group) => {
        const outcome = await renewer.renew(group).catch((err: unknown) => this.crashed(group, err));
        await this.notifier.renewalOutcome(outcome);
        return outcome;
      },
      () => this.abort.signal.aborted,
    );
    this.beat();
    if (outcomes.some((o) => o.result === 'renewed' || o.result === 'fallback' || o.issuer)) this.options.onInstalled?.();
    return outcomes;
  }

  private async prepare(): Promise<{ inventory: Inventory; renewer?: Renewer }> {
    let inventory = await this.scan();
    const certsDir = inventory.certsDir;
    if (!certsDir || !this.scanner.lookupFacts) return { inventory };
    let repaired = false;
    for (const group of this.groups(inventory)) {
      if (this.recovered.has(group.name)) continue;
      // Under the group's lock: recovery removes temp names, which may be another worker's install
      // in progress. A group that cannot be repaired is still tried (its install then fails).
      await withGroupLock(this.config.renewal.stateDir, group.name, () => recoverInstall(certsDir, group.name), this.log).then(
        (recovery) => {
          this.recovered.add(group.name);
          repaired ||= recovery.relinked || recovery.takeovers !== undefined;
        },
        (err: unknown) => this.log.error({ group: group.name, err }, messageOf(err)),
      );
    }
    // A repair moved files (a link put back, an interrupted takeover finished): what Prosody uses changed.
    if (repaired) inventory = await this.scan();
    const components = new Set(inventory.domains.filter((d) => d.origin === 'Component').map((d) => d.name));
    const step = this.options.step ?? ((group: CertificateGroup, text: string) => this.log.info({ group: group.name }, `${group.name}: ${text}`));
    const renewer = new Renewer({
      config: this.config,
      certsDir,
      lookup: this.lookup(inventory),
      issuers: this.issuers,
      log: this.log,
      components,
      signal: this.abort.signal,
      step,
      warned: this.warned,
    });
    return { inventory, renewer };
  }

  private async scan(): Promise<Inventory> {
    const inventory = await this.scanner.scan();
    for (const warning of this.scanner.warnings) this.log.warn({ event: 'scan_warning' }, warning);
    for (const source of inventory.sources) if (!source.up) this.log.error({ source: source.name }, source.error ?? 'source down');
    return inventory;
  }

  /** The renewer's view of what Prosody uses: this scan's, and one fresh scan shared by every group that finds it stale. */
  private lookup(inventory: Inventory): ProsodyLookup {
    let view = new ProsodyView(inventory, this.scanner.lookupFacts!);
    let refreshing: Promise<ProsodyView> | undefined;
    const refresh = async () => {
      const fresh = await this.scanner.scan();
      if (this.scanner.lookupFacts) view = new ProsodyView(fresh, this.scanner.lookupFacts);
      return view;
    };
    return {
      view: () => view,
      refresh: () => (refreshing ??= refresh().finally(() => (refreshing = undefined))),
    };
  }

  private groups(inventory: Inventory): CertificateGroup[] {
    return certificateGroups(inventory.domains, this.config.renewal.certificates);
  }

  /** A bug, not a renewal failure (those are outcomes): logged, and the other groups go on. */
  private crashed(group: CertificateGroup, err: unknown): RenewOutcome {
    this.log.error({ group: group.name, err }, `${group.name}: renewal stopped by an unexpected error`);
    return { group, result: 'failed' };
  }

  private async runAndReschedule(): Promise<void> {
    if (this.abort.signal.aborted) return;
    const outcomes = await this.check().catch((err: unknown) => {
      this.log.error({ err }, 'renewal check failed');
      return [] as RenewOutcome[];
    });
    if (this.abort.signal.aborted) return;
    const next = this.nextCheck(outcomes);
    this.log.info({ next: next.toISOString() }, `next renewal check at ${next.toISOString()}`);
    this.job = schedule.scheduleJob(next, () => void this.runAndReschedule());
  }

  /** The periodic check with jitter, or a group's own time when that is sooner (at least 1 s ahead). */
  private nextCheck(outcomes: readonly RenewOutcome[]): Date {
    const now = Date.now() / 1000;
    const { checkInterval, jitter } = this.config.renewal;
    let next = now + checkInterval + Math.random() * jitter;
    for (const o of outcomes) {
      const own = o.nextAttempt ?? o.nextDue ?? (o.result === 'not_due' ? o.decision?.dueAt : undefined);
      if (own !== undefined && own < next) next = own;
    }
    return new Date(Math.max(next, now + 1) * 1000);
  }

  private beat(): void {
    const timer = this.options.timerInterval;
    this.beating = updateState(
      this.config.renewal.stateDir,
      (s) => {
        s.heartbeat = Date.now() / 1000;
        s.heartbeatMode = timer === undefined ? 'service' : 'timer';
        s.heartbeatInterval = timer ?? SERVICE_HEARTBEAT_SECONDS;
      },
      this.log,
    ).then(
      () => undefined,
      (err: unknown) => this.log.error({ err }, `cannot write the state file in ${this.config.renewal.stateDir}`),
    );
  }
}
