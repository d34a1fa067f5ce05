/**
 * `/probe?target=DOMAIN&module=c2s|s2s|c2s_tls|s2s_tls|https`: probes one domain's endpoints now,
 * in blackbox_exporter's multi-target style, and answers with the endpoint metrics of just that
 * probe. Only watched domains and `probes.allow` patterns are accepted, so the exporter cannot be
 * made to connect anywhere: anything else is refused (400/403) before any DNS lookup or connection.
 * Honours X-Prometheus-Scrape-Timeout-Seconds.
 */
import type { Request, Response } from 'express';
import { READ_ERROR_REASONS, coversName } from '../cert';
import type { Config } from '../config';
import { judgeServed, type Report } from '../evaluate';
import type { ReportRenderer } from '../metrics';
import { endpointsOf, planProbes, probeOptions, probePlanned, trustStore } from '../sources/live';
import { PROBE_MODULES, type ProbeModule } from '../model/probe';
import type { Logger } from '../shared/log';

export interface ProbeRouteDeps {
  getConfig: () => Config;
  getReport: () => Report | undefined;
  render: ReportRenderer;
  contentType: string;
  log: Logger;
}

/** Leaves half a second of Prometheus' own timeout for the answer to travel back. */
function timeoutMs(req: Request, config: Config): number {
  const header = Number(req.header('X-Prometheus-Scrape-Timeout-Seconds'));
  const seconds = Number.isFinite(header) && header > 0 ? Math.min(config.probes.timeout, Math.max(header - 0.5, 0.5)) : config.probes.timeout;
  return seconds * 1000;
}

/**
 * The watched domains of a Report (with their disk report) and of the config, indexed once per
 * Report (a scan) and per config: a search per request made a round of /probe O(domains²).
 */
const reportIndex = new WeakMap<Report, ReadonlyMap<string, Report['domains'][number]>>();
const configIndex = new WeakMap<readonly string[], ReadonlySet<string>>();
function domainsOf(report: Report): ReadonlyMap<string, Report['domains'][number]> {
  let index = reportIndex.get(report);
  if (!index) reportIndex.set(report, (index = new Map(report.domains.map((d) => [d.domain, d]))));
  return index;
}
function configured(config: Config): ReadonlySet<string> {
  let index = configIndex.get(config.domains);
  if (!index) configIndex.set(config.domains, (index = new Set(config.domains)));
  return index;
}

export function isAllowed(domain: string, config: Config, report: Report | undefined): boolean {
  if ((report && domainsOf(report).has(domain)) || configured(config).has(domain)) return true;
  return config.probes.allow.some((pattern) => pattern === domain || coversName(pattern, domain));
}

export function probeRoute(deps: ProbeRouteDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    const config = deps.getConfig();
    const target = typeof req.query.target === 'string' ? req.query.target.trim().toLowerCase().replace(/\.$/, '') : '';
    const module = typeof req.query.module === 'string' ? req.query.module : 'c2s';
    if (!target) return void res.status(400).type('text/plain').send('target parameter is missing (an XMPP domain, e.g. ?target=example.org&module=c2s)\n');
    if (!(PROBE_MODULES as readonly string[]).includes(module)) {
      return void res
        .status(400)
        .type('text/plain')
        .send(`unknown module ${JSON.stringify(module)}: expected one of ${PROBE_MODULES.join(', ')}\n`);
    }
    if (!isAllowed(target, config, deps.getReport())) {
      return void res.status(403).type('text/plain').send(`target ${target} is not a watched domain nor allowed by probes.allow; refusing to connect\n`);
    }
    // One deadline for the SRV lookup and the probes together, as Prometheus waits for both.
    const deadline = Date.now() + timeoutMs(req, config);
    const probes = { ...config.probes, timeout: (deadline - Date.now()) / 1000 };
    const ca = trustStore(config.probes.ca, deps.log);
    const { endpoints, srv } = await endpointsOf(target, probes, module as ProbeModule);
    const planned = await planProbes(endpoints, { ...probes, timeout: Math.max(deadline - Date.now(), 100) / 1000 });
    const left = Math.max(deadline - Date.now(), 100);
    const latest = deps.getReport();
    const disk = latest && domainsOf(latest).get(target);
    const now = Date.now() / 1000;
    const options = probeOptions(config.probes, ca, left);
    const served = await Promise.all(planned.map(async (p) => judgeServed(await probePlanned(p, options), disk, config.thresholds, now)));
    // Only the endpoint families are rendered, so the disk parts of this Report stay empty.
    const readErrors = Object.fromEntries(READ_ERROR_REASONS.map((r) => [r, 0])) as Report['readErrors'];
    const report: Report = { generatedAt: now, overall: 'ok', domains: [], files: [], readErrors, sources: [], served, srv };
    const body = Buffer.concat(deps.render(report, { endpointsOnly: true }));
    // Not res.send: it hashes every answer for an ETag, a tenth of a loopback probe's CPU, and a probe's answer is never cached.
    res.writeHead(200, { 'Content-Type': deps.contentType, 'Content-Length': body.length }).end(body);
  };
}
