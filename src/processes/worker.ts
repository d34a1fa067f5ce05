/**
 * Wiring of the worker process (`worker`, the worker half of `run`, and the one-shot `auto-renew`
 * and `renew`): the renewer (src/renewal/) and the notifier (src/notify/) meet only here.
 * The schedule: a check at start-up, then one every `renewal.checkInterval` plus a random
 * jitter, and one at each group's own next time (its renewal point, or the end of a Retry-After or
 * backoff), whichever comes first. A check scans like the exporter, forms the groups and renews
 * the due ones, `renewal.concurrency` at a time. A heartbeat goes to the state file every minute.
 * stop() starts no new attempt, waits for the one in progress (an install is never cut short).
 * node-schedule holds the timer: a check interval may exceed setTimeout's 24.8-day limit.
 * Each outcome goes to the notifier (src/notify/), which queues and delivers renewal events.
 */
import schedule from 'node-schedule';
import type { LoadedConfig } from '../config';
import { messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';
import { Notifier } from '../notify/notifier';
import { InventoryScanner } from '../sources/inventory';
import type { Inventory } from '../model/inventory';
import { certificateGroups, groupFor } from '../renewal/groups';
import { recoverInstall } from '../renewal/install';
import { withGroupLock } from '../state/lock';
import { closeIssuers, createIssuers } from '../renewal/issuers';
import { Renewer, type RenewOptions, type RenewOutcome } from '../renewal/renew';
import { inLanes } from '../shared/lanes';
import { updateState } from '../state/state';
import type { CertificateGroup, Issuer } from '../renewal/types';

const HEARTBEAT_MS = 60_000;

export interface WorkerOptions {
  /** Each step of each renewal (the worker logs them; one-shot commands print them). */
  step?: (group: CertificateGroup, text: string) => void;
  /** After a check that installed something: `run` rescans so /metrics shows it at once. */
  onInstalled?: () => void;
}

export class Worker {
  private readonly scanner: InventoryScanner;
  private readonly issuers: Issuer[];
  private readonly abort = new AbortController();
  private job: schedule.Job | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private checking: Promise<RenewOutcome[]> | undefined;
  private recovered = new Set<string>();
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

  /** One group by one of its names (a new one-name group when no group has it). */
  async renewDomain(domain: string, options: RenewOptions): Promise<RenewOutcome> {
    const { inventory, renewer } = await this.prepare();
    if (!renewer) throw new Error('no certificate directory: set prosody.certs');
    const outcome = await renewer.renew(groupFor(domain, this.groups(inventory)), options);
    await this.notifier.renewalOutcome(outcome);
    return outcome;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.job?.cancel();
    clearInterval(this.heartbeat);
    await this.checking?.catch(() => undefined);
    await this.notifier.stop();
    await closeIssuers(this.issuers);
  }

  private async doCheck(): Promise<RenewOutcome[]> {
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
    const inventory = await this.scanner.scan();
    for (const warning of this.scanner.warnings) this.log.warn({ event: 'scan_warning' }, warning);
    for (const source of inventory.sources) if (!source.up) this.log.error({ source: source.name }, source.error ?? 'source down');
    const certsDir = inventory.certsDir;
    if (!certsDir) return { inventory };
    for (const group of this.groups(inventory)) {
      if (this.recovered.has(group.name)) continue;
      // Under the group's lock: recovery removes temp names, which may be another worker's install
      // in progress. A group that cannot be repaired is still tried (its install then fails).
      await withGroupLock(this.config.renewal.stateDir, group.name, () => recoverInstall(certsDir, group.name), this.log).then(
        () => this.recovered.add(group.name),
        (err: unknown) => this.log.error({ group: group.name, err }, messageOf(err)),
      );
    }
    const components = new Set(inventory.domains.filter((d) => d.origin === 'Component').map((d) => d.name));
    const step = this.options.step ?? ((group: CertificateGroup, text: string) => this.log.info({ group: group.name }, `${group.name}: ${text}`));
    const renewer = new Renewer({ config: this.config, certsDir, issuers: this.issuers, log: this.log, components, signal: this.abort.signal, step });
    return { inventory, renewer };
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
    updateState(
      this.config.renewal.stateDir,
      (s) => {
        s.heartbeat = Date.now() / 1000;
      },
      this.log,
    ).catch((err: unknown) => this.log.error({ err }, `cannot write the state file in ${this.config.renewal.stateDir}`));
  }
}
