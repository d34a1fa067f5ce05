/**
 * Wiring of the exporter process (`serve`): scan on a timer, evaluate, keep the latest Report for
 * /metrics and /status, log status changes as alert events, and reload the config on request
 * (a bad new config keeps the old one). It never writes certificates.
 */
import { type LoadedConfig } from './config';
import { evaluate, statusChanges, type Report } from './evaluate';
import { createApp } from './http/app';
import { startServer, type RunningServer } from './http/server';
import { loadWebConfig, type WebConfig } from './http/web-config';
import { createMetrics, type ExporterMetrics } from './metrics';
import { appendAlertLog, type Logger } from './shared/log';
import { InventoryScanner } from './sources/inventory';

const nowSeconds = () => Date.now() / 1000;

/** One scan and evaluation, for the one-shot verbs (monitor, status) and the exporter loop. */
export async function scanOnce(scanner: InventoryScanner, loaded: LoadedConfig): Promise<Report> {
  const inventory = await scanner.scan(nowSeconds);
  return evaluate(inventory, loaded.config.thresholds, inventory.scannedAt);
}

export class Exporter {
  readonly metrics: ExporterMetrics;
  private report: Report | undefined;
  private scanner: InventoryScanner;
  private web: WebConfig | undefined;
  private server: RunningServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<Report> | undefined;
  private stopped = false;

  constructor(
    private loaded: LoadedConfig,
    private readonly reloadConfig: () => LoadedConfig,
    private readonly log: Logger,
  ) {
    this.scanner = new InventoryScanner(loaded.config);
    this.web = loaded.config.server.webConfig ? loadWebConfig(loaded.config.server.webConfig) : undefined;
    this.metrics = createMetrics(() => this.report);
    this.metrics.configReloaded(true, nowSeconds());
  }

  get latest(): Report | undefined {
    return this.report;
  }

  /** Listens first (so /healthz answers at once), then scans; /readyz turns 200 after that scan. */
  async start(): Promise<RunningServer> {
    const app = createApp({ metrics: this.metrics, getReport: () => this.report, getWebConfig: () => this.web });
    this.server = await startServer(app, this.loaded.config.server.listen, this.web);
    this.log.info({ listen: this.server.address }, `metrics at ${this.server.url}/metrics, report at ${this.server.url}/status`);
    void this.scan().finally(() => this.schedule());
    return this.server;
  }

  /** Scans now; concurrent callers share the scan in progress. */
  scan(): Promise<Report> {
    this.scanning ??= this.doScan().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async doScan(): Promise<Report> {
    const started = process.hrtime.bigint();
    const report = await scanOnce(this.scanner, this.loaded);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.scanFinished(seconds, this.scanner.parsedLastTime);
    for (const warning of this.scanner.warnings) this.log.warn(warning);
    for (const source of report.sources) if (!source.up) this.log.error({ source: source.name }, source.error ?? 'source down');
    for (const change of statusChanges(this.report, report)) {
      const event = { event: 'status_change', ...change };
      this.log[change.to === 'ok' ? 'info' : 'warn'](event, `${change.domain}: ${change.from} -> ${change.to} (${change.detail})`);
      appendAlertLog(this.loaded.config.logging.alertLog, event, this.log);
    }
    this.log.debug({ seconds, files: report.files.length, parsed: this.scanner.parsedLastTime }, 'scan finished');
    this.report = report;
    return report;
  }

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
      this.loaded = loaded;
      this.web = web;
      this.server?.updateTls(web);
      this.scanner = new InventoryScanner(loaded.config);
      this.metrics.configReloaded(true, nowSeconds());
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
    await this.scanning?.catch(() => undefined);
    await this.server?.close();
  }
}
