/**
 * Wiring of the exporter process (`serve`): scan files on a timer and probe live endpoints on
 * another, evaluate both into the latest Report for /metrics and /status, log status changes as
 * alert events, and reload the config on request (a bad new config keeps the old one). It never
 * writes certificates. A scan that runs past scan.timeout is reported (xmpp_cert_scan_stalled) and no
 * longer waited for: callers get the previous Report, no second scan starts beside it, and its result
 * is published if it ever finishes.
 */
import { type LoadedConfig } from '../config';
import { evaluate, evaluateInSlices, statusChanges, type Report } from '../evaluate';
import { createApp } from '../http/app';
import { startServer, type RunningServer } from '../http/server';
import { loadWebConfig, type WebConfig } from '../http/web-config';
import { createMetrics, type ExporterMetrics } from '../metrics';
import { appendAlertLog, type Logger } from '../shared/log';
import { InventoryScanner } from '../sources/inventory';
import type { Inventory } from '../model/inventory';
import { LiveProber } from '../sources/live';

const nowSeconds = () => Date.now() / 1000;
const componentsOf = (inventory: Inventory | undefined) => new Set(inventory?.domains.filter((d) => d.origin === 'Component').map((d) => d.name));

/**
 * One scan (and with `probe`, when probes are enabled, one round of probes): for run, monitor and
 * status. `probeOnly` limits the probes to the domains it accepts (monitor -H).
 */
export async function scanOnce(
  scanner: InventoryScanner,
  loaded: LoadedConfig,
  log: Logger,
  probe = false,
  probeOnly?: (domain: string) => boolean,
): Promise<Report> {
  const inventory = await scanner.scan(nowSeconds);
  for (const warning of scanner.warnings) log.warn({ event: 'scan_warning' }, warning);
  for (const source of inventory.sources) if (!source.up) log.error({ source: source.name }, source.error ?? 'source down');
  if (!probe || !loaded.config.probes.enabled) return evaluate(inventory, loaded.config.thresholds, inventory.scannedAt);
  const prober = new LiveProber(loaded.config.probes, log, () => undefined);
  await prober.runOnce(
    inventory.domains.map((d) => d.name).filter((name) => !probeOnly || probeOnly(name)),
    componentsOf(inventory),
  );
  return evaluate(inventory, loaded.config.thresholds, nowSeconds(), prober.snapshot(), prober.srvSnapshot());
}

export class Exporter {
  readonly metrics: ExporterMetrics;
  private report: Report | undefined;
  private inventory: Inventory | undefined;
  private scanner: InventoryScanner;
  private readonly prober: LiveProber;
  private web: WebConfig | undefined;
  private server: RunningServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The scan in progress, however long it takes. */
  private running: Promise<Report> | undefined;
  private stopped = false;

  constructor(
    private loaded: LoadedConfig,
    private readonly reloadConfig: () => LoadedConfig,
    private readonly log: Logger,
    /** Called once, after the first scan is published (the cold scan is the one that allocates most). */
    private readonly afterFirstScan: () => void = () => undefined,
  ) {
    this.scanner = new InventoryScanner(loaded.config);
    this.web = loaded.config.server.webConfig ? loadWebConfig(loaded.config.server.webConfig) : undefined;
    this.metrics = createMetrics(
      () => this.report,
      () => this.loaded.config.renewal.stateDir,
    );
    this.metrics.configReloaded(true, nowSeconds(), loaded.config.scan.interval);
    this.prober = new LiveProber(loaded.config.probes, log, () => void this.publish());
  }

  get latest(): Report | undefined {
    return this.report;
  }

  /** Listens first (so /healthz answers at once), then scans; /readyz turns 200 after that scan. */
  async start(): Promise<RunningServer> {
    const app = createApp({
      metrics: this.metrics,
      getReport: () => this.report,
      getConfig: () => this.loaded.config,
      log: this.log,
      getWebConfig: () => this.web,
      telemetryPath: this.loaded.config.server.telemetryPath,
    });
    this.server = await startServer(app, this.loaded.config.server.listen, this.web);
    const metricsUrl = `${this.server.url}${this.loaded.config.server.telemetryPath}`;
    this.log.info({ listen: this.server.address }, `metrics at ${metricsUrl}, report at ${this.server.url}/status`);
    void this.scan().finally(() => {
      this.afterFirstScan();
      this.schedule();
      this.prober.start(() => ({ domains: this.inventory?.domains.map((d) => d.name) ?? [], components: componentsOf(this.inventory) }));
    });
    return this.server;
  }

  /**
   * Scans now; concurrent callers share the scan in progress. Resolves with the new Report, or after
   * scan.timeout with the previous one (undefined before the first) while the scan goes on.
   */
  async scan(): Promise<Report | undefined> {
    this.running ??= this.doScan().finally(() => (this.running = undefined));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), this.loaded.config.scan.timeout * 1000)));
    const outcome = await Promise.race([this.running, timeout]);
    clearTimeout(timer);
    if (outcome !== 'stalled') return outcome;
    if (!this.stalled) {
      this.stalled = true;
      this.metrics.scanStalled(true);
      this.log.error(
        { event: 'scan_stalled', timeoutSeconds: this.loaded.config.scan.timeout },
        `the scan has not finished within scan.timeout (${this.loaded.config.scan.timeout} s): serving the previous results; ` +
          'a file system that does not answer (a hung network mount under the certificate directory or a files glob)?',
      );
    }
    return this.report;
  }

  private stalled = false;

  private async doScan(): Promise<Report> {
    const started = process.hrtime.bigint();
    this.inventory = await this.scanner.scan(nowSeconds);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (this.stalled) this.log.info({ seconds }, 'the stalled scan finished');
    this.stalled = false;
    this.metrics.scanStalled(false);
    this.metrics.scanFinished(seconds, this.scanner.parsedLastTime);
    for (const warning of this.scanner.warnings) this.log.warn({ event: 'scan_warning' }, warning);
    for (const source of this.inventory.sources) if (!source.up) this.log.error({ source: source.name }, source.error ?? 'source down');
    this.log.debug({ seconds, files: this.inventory.files.size, parsed: this.scanner.parsedLastTime }, 'scan finished');
    return this.publish();
  }

  private publishing: Promise<Report> | undefined;

  /**
   * Evaluates the latest scan with the latest probes; called after each scan and each probe round.
   * In slices that yield to the event loop (100,000 domains take a while), one at a time.
   */
  private publish(): Promise<Report> {
    const run = async () => this.publishNow();
    this.publishing = (this.publishing ?? Promise.resolve(undefined as unknown as Report)).then(run, run);
    return this.publishing;
  }

  private async publishNow(): Promise<Report> {
    const pause = () => new Promise<void>((resolve) => setImmediate(resolve));
    const report = await evaluateInSlices(
      this.inventory!,
      this.loaded.config.thresholds,
      nowSeconds(),
      this.prober.snapshot(),
      this.prober.srvSnapshot(),
      pause,
    );
    for (const change of statusChanges(this.report, report)) {
      const event = { event: 'status_change', ...change };
      this.log[change.to === 'ok' ? 'info' : 'warn'](event, `${change.domain}: ${change.from} -> ${change.to} (${change.detail})`);
      appendAlertLog(this.loaded.config.logging.alertLog, event, this.log);
    }
    this.warnAmbiguous(report);
    this.report = report;
    return report;
  }

  /** A domain whose lookup became ambiguous is logged once, naming its files (the detail and /status keep saying it). */
  private warnAmbiguous(report: Report): void {
    const before = new Set(this.report?.domains.filter((d) => d.ambiguous).map((d) => d.domain));
    for (const d of report.domains) {
      if (!d.ambiguous || before.has(d.domain)) continue;
      const files = [d.file, ...(d.alternatives ?? [])].filter((f): f is string => f !== undefined);
      const message = files.length > 1 ? `${files.join(' and ')} all carry ${d.domain}` : `a service of ${d.domain} may get any of several files`;
      this.log.warn({ event: 'lookup_ambiguous', domain: d.domain, files }, `${message}: Prosody picks either, and may pick another at its next start`);
    }
  }

  /** The next scan one interval after this one returns (finished, or given up on at scan.timeout). */
  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.scan().finally(() => this.schedule()), this.loaded.config.scan.interval * 1000);
    this.timer.unref();
  }

  /** SIGHUP: load config and web config again; on any error keep the old ones. */
  async reload(): Promise<boolean> {
    try {
      const loaded = this.reloadConfig();
      const web = loaded.config.server.webConfig ? loadWebConfig(loaded.config.server.webConfig) : undefined;
      const listenChanged = JSON.stringify(loaded.config.server.listen) !== JSON.stringify(this.loaded.config.server.listen);
      if (listenChanged) this.log.warn('server.listen changed: restart the exporter to listen on the new address');
      if (loaded.config.server.telemetryPath !== this.loaded.config.server.telemetryPath) {
        this.log.warn('server.telemetryPath changed: restart the exporter to serve the metrics at the new path');
      }
      this.loaded = loaded;
      this.web = web;
      this.server?.updateTls(web);
      this.scanner = new InventoryScanner(loaded.config);
      this.prober.reconfigure(loaded.config.probes);
      this.metrics.configReloaded(true, nowSeconds(), loaded.config.scan.interval);
      this.log.info({ file: loaded.file }, 'configuration reloaded');
      await this.scan();
      this.schedule();
      return true;
    } catch (err) {
      this.metrics.configReloaded(false, nowSeconds());
      this.log.error({ err: { message: (err as Error).message } }, 'configuration reload failed; keeping the previous configuration');
      return false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // A scan finishing within a second is let finish; one that hangs (a dead mount) is not waited for.
    const scan = this.running?.catch(() => undefined);
    await Promise.all([Promise.race([scan, new Promise((r) => setTimeout(r, 1000).unref())]), this.prober.stop()]);
    await this.server?.close();
  }
}
