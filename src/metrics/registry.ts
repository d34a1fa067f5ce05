/**
 * What /metrics answers: the report families' text (report-gauges.ts; it only changes when a new
 * Report arrives, so it is rendered once per Report and reused) after a small live prom-client
 * Registry of process facts (build, config reloads, scan and scrape durations, prom-client's
 * default process metrics), the worker's renewal state and notification counters.
 * The caller hands in the latest Report; the only files read are the worker's state (renewal-gauges.ts)
 * and its notification counters (notify-gauges.ts).
 */
import { Counter, Gauge, Registry, Summary, collectDefaultMetrics } from 'prom-client';
import type { Report } from '../evaluate';
import { VERSION } from '../shared/version';
import { createNotifyGauges } from './notify-gauges';
import { createRenewalGauges } from './renewal-gauges';
import { renderReport } from './report-gauges';

export interface ExporterMetrics {
  /** The live registry (process facts); its contentType is the exposition's. */
  registry: Registry;
  /** Called by the scanner after each scan. */
  scanFinished(seconds: number, filesParsed: number): void;
  /** Called when a scan runs past scan.timeout (true) and when one finishes in time again (false). */
  scanStalled(stalled: boolean): void;
  /** Called after each config (re)load attempt. */
  configReloaded(ok: boolean, at: number): void;
  /** One exposition, as byte chunks to write in order; records its duration. */
  expose(): Promise<Buffer[]>;
}

/** `stateDir`: where the worker's state file is, read at scrape time for the renewal metrics. */
export function createMetrics(getReport: () => Report | undefined, stateDir: () => string): ExporterMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const renewal = createRenewalGauges(registry, stateDir);
  const notify = createNotifyGauges(registry, stateDir);

  new Gauge({ name: 'xmpp_cert_build_info', help: 'Build facts; always 1.', labelNames: ['version', 'nodejs_version'], registers }).set(
    { version: VERSION, nodejs_version: process.version },
    1,
  );
  const reloadOk = new Gauge({ name: 'xmpp_cert_config_last_reload_successful', help: '1 when the last config (re)load succeeded, else 0.', registers });
  const reloadAt = new Gauge({
    name: 'xmpp_cert_config_last_reload_success_timestamp_seconds',
    help: 'When the config was last loaded successfully.',
    registers,
  });
  const scanSeconds = new Gauge({ name: 'xmpp_cert_scan_duration_seconds', help: 'How long the last scan of every source took.', registers });
  const stalled = new Gauge({
    name: 'xmpp_cert_scan_stalled',
    help: '1 while a scan has run past scan.timeout: no longer waited for, the report is from the last scan that finished; else 0.',
    registers,
  });
  stalled.set(0);
  const stalls = new Counter({ name: 'xmpp_cert_scan_stalls_total', help: 'Scans that ran past scan.timeout.', registers });
  const parsed = new Counter({ name: 'xmpp_cert_files_parsed_total', help: 'Certificate files parsed (a rescan parses only files that changed).', registers });
  const scrape = new Summary({ name: 'xmpp_cert_scrape_duration_seconds', help: 'Time to build each /metrics response.', percentiles: [], registers });
  // One rendering per Report, shared by every scrape until the next scan.
  let rendered: { report: Report | undefined; chunks: Buffer[] } | undefined;

  return {
    registry,
    scanFinished(seconds, filesParsed) {
      scanSeconds.set(seconds);
      parsed.inc(filesParsed);
    },
    scanStalled(now) {
      stalled.set(now ? 1 : 0);
      if (now) stalls.inc();
    },
    configReloaded(ok, at) {
      reloadOk.set(ok ? 1 : 0);
      if (ok) reloadAt.set(at);
    },
    async expose() {
      const end = scrape.startTimer();
      const report = getReport();
      if (rendered === undefined || rendered.report !== report) rendered = { report, chunks: renderReport(report) };
      renewal.refresh();
      notify.refresh();
      const chunks = [Buffer.from(await registry.metrics()), ...rendered.chunks];
      end();
      return chunks;
    },
  };
}
