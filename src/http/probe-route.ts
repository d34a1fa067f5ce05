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
import { endpointsOf, trustStore } from '../sources/live';
import { probeEndpoint } from '../sources/probe';
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

export function isAllowed(domain: string, config: Config, report: Report | undefined): boolean {
  if (report?.domains.some((d) => d.domain === domain) || config.domains.includes(domain)) return true;
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
    const { endpoints } = await endpointsOf(target, probes, module as ProbeModule);
    const left = Math.max(deadline - Date.now(), 100);
    const disk = deps.getReport()?.domains.find((d) => d.domain === target);
    const now = Date.now() / 1000;
    const served = await Promise.all(
      endpoints.map(async (endpoint) => {
        const result = await probeEndpoint(endpoint, { timeoutMs: left, ...(ca ? { ca } : {}) });
        return judgeServed({ result, probedAt: Date.now() / 1000 }, disk, config.thresholds, now);
      }),
    );
    // Only the endpoint families are rendered, so the disk parts of this Report stay empty.
    const readErrors = Object.fromEntries(READ_ERROR_REASONS.map((r) => [r, 0])) as Report['readErrors'];
    const domainErrors = Object.fromEntries(Object.keys(readErrors).map((r) => [r, 0])) as Report['domainErrors'];
    const report: Report = { generatedAt: now, overall: 'ok', domains: [], files: [], readErrors, domainErrors, sources: [], ports: [], served };
    const chunks = deps.render(report, { endpointsOnly: true });
    res.type(deps.contentType).send(Buffer.concat(chunks));
  };
}
