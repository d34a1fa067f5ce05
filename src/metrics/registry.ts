/**
 * What /metrics answers, in the text format or OpenMetrics, plain or gzip: the report families'
 * text (report-gauges.ts; it only changes when a new Report arrives, so it is rendered once per
 * Report, and deflated once when a client asks for gzip, and reused), then a small live
 * prom-client Registry of process facts (build, config reloads, scan and scrape durations,
 * prom-client's default process metrics), the worker's renewal state and notification counters,
 * written per scrape by the same writer (text-format.ts) in the format asked for.
 * The caller hands in the latest Report; the only files read are the worker's state (renewal-gauges.ts)
 * and its notification counters (notify-gauges.ts).
 */
import { Counter, Gauge, Registry, Summary, collectDefaultMetrics } from 'prom-client';
import type { Report } from '../evaluate';
import { BUILD, VERSION } from '../shared/version';
import { EMPTY_HEAD, deflateHead, gzipMember, type DeflatedHead } from './gzip-member';
import { createNotifyGauges } from './notify-gauges';
import { createRenewalGauges } from './renewal-gauges';
import { renderReport } from './report-gauges';
import { TextWriter, type ExpositionFormat, type MetricType, type RawSample } from './text-format';

/**
 * prom-client's default gauges that promtool check metrics rejects ("non-counter metrics should
 * not have _total suffix"); nodejs_active_handles, _requests and _resources by type carry the same.
 */
const DROPPED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface ExporterMetrics {
  /** The live registry (process facts); its contentType is the exposition's. */
  registry: Registry;
  /** Called by the scanner after each scan. */
  scanFinished(seconds: number, filesParsed: number): void;
  /** Called when a scan runs past scan.timeout (true) and when one finishes in time again (false). */
  scanStalled(stalled: boolean): void;
  /** Called after each config (re)load attempt, with the config's scan.interval when it loaded. */
  configReloaded(ok: boolean, at: number, scanIntervalSeconds?: number): void;
  /** One exposition, as byte chunks to write in order (a gzip member with `gzip`); records its duration. */
  expose(format?: ExpositionFormat, encoding?: 'identity' | 'gzip'): Promise<Buffer[]>;
}

/** `stateDir`: where the worker's state file is, read at scrape time for the renewal metrics. */
export function createMetrics(getReport: () => Report | undefined, stateDir: () => string): ExporterMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULTS) registry.removeSingleMetric(name);
  const registers = [registry];
  const renewal = createRenewalGauges(registry, stateDir);
  const notify = createNotifyGauges(registry, stateDir);

  new Gauge({ name: 'xmpp_cert_build_info', help: 'Build facts; always 1.', labelNames: ['version', 'revision', 'nodejs_version'], registers }).set(
    { version: VERSION, revision: BUILD.revision, nodejs_version: process.version },
    1,
  );
  const reloadOk = new Gauge({ name: 'xmpp_cert_config_last_reload_successful', help: '1 when the last config (re)load succeeded, else 0.', registers });
  const reloadAt = new Gauge({
    name: 'xmpp_cert_config_last_reload_success_timestamp_seconds',
    help: 'When the config was last loaded successfully.',
    registers,
  });
  // Exported so the stalled-scan alert follows the config, as the expiry alerts follow the thresholds.
  const scanInterval = new Gauge({
    name: 'xmpp_cert_scan_interval_seconds',
    help: 'The configured scan.interval: a scan starts this long after the last one finished.',
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
  // One rendering per Report, shared by every scrape until the next scan; deflated on the first gzip scrape.
  let rendered: { report: Report | undefined; chunks: Buffer[]; head?: Promise<DeflatedHead> } | undefined;

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
    configReloaded(ok, at, scanIntervalSeconds) {
      reloadOk.set(ok ? 1 : 0);
      if (ok) reloadAt.set(at);
      if (ok && scanIntervalSeconds !== undefined) scanInterval.set(scanIntervalSeconds);
    },
    async expose(format = 'text', encoding = 'identity') {
      const end = scrape.startTimer();
      const report = getReport();
      if (rendered === undefined || rendered.report !== report) rendered = { report, chunks: renderReport(report) };
      const current = rendered;
      renewal.refresh();
      notify.refresh();
      const live = await renderRegistry(registry, format);
      if (encoding === 'identity') {
        end();
        return [...current.chunks, ...live];
      }
      current.head ??= current.chunks.length > 0 ? deflateHead(current.chunks) : Promise.resolve(EMPTY_HEAD);
      const body = gzipMember(await current.head, live);
      end();
      return body;
    },
  };
}

/** The live registry's families in `format`, then OpenMetrics' `# EOF`. */
async function renderRegistry(registry: Registry, format: ExpositionFormat): Promise<Buffer[]> {
  const writer = new TextWriter(format);
  for (const metric of await registry.getMetricsAsJSON()) {
    // prom-client's typings say an enum; at run time `type` is the text format's own word.
    writer.family(metric.name, metric.help, String(metric.type) as MetricType, metric.values as RawSample[]);
  }
  writer.end();
  return writer.finish();
}
