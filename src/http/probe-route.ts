/**
 * `/probe?target=DOMAIN&module=c2s|s2s|c2s_tls|s2s_tls|https`: probes one domain's endpoints now,
 * in blackbox_exporter's multi-target style, and answers with the endpoint metrics of just that
 * probe. Only host names (http/host-name.ts) that are watched domains or match `probes.allow` are
 * accepted, so the exporter cannot be made to connect anywhere: anything else is refused (400/403)
 * before any DNS lookup or connection. At most `probes.concurrency` requests probe at once and
 * 8x that many wait (a BoundedQueue); beyond that the answer is 429 with Retry-After at once, and
 * a request still waiting when its scrape timeout is up gets 503 without probing. Honours
 * X-Prometheus-Scrape-Timeout-Seconds.
 */
import type { Request, Response } from 'express';
import { AbandonedError, BoundedQueue, type QueueLimits } from './bounded-queue';
import { parseHostName } from './host-name';
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

/** Requests waiting for a turn, per request allowed to probe at once. */
const QUEUE_PER_SLOT = 8;
const queueLimits = (config: Config): QueueLimits => ({ concurrency: config.probes.concurrency, queue: QUEUE_PER_SLOT * config.probes.concurrency });
/** A request that gets its turn with less time than this left is answered 503 instead. */
const MIN_PROBE_MS = 100;

export function probeRoute(deps: ProbeRouteDeps) {
  // Sized from the config at each request, so a reload that changes probes.concurrency applies at once.
  let limits: QueueLimits = { concurrency: 0, queue: 0 };
  const queue = new BoundedQueue(limits);
  return async (req: Request, res: Response): Promise<void> => {
    const config = deps.getConfig();
    if (limits.concurrency !== config.probes.concurrency) queue.setLimits((limits = queueLimits(config)));
    const input = typeof req.query.target === 'string' ? req.query.target : '';
    const module = typeof req.query.module === 'string' ? req.query.module : 'c2s';
    if (!input.trim())
      return void res.status(400).type('text/plain').send('target parameter is missing (an XMPP domain, e.g. ?target=example.org&module=c2s)\n');
    const host = parseHostName(input);
    if ('problem' in host) return void res.status(400).type('text/plain').send(`target ${host.problem}; expected an XMPP domain such as example.org\n`);
    const target = host.name;
    if (!(PROBE_MODULES as readonly string[]).includes(module)) {
      return void res
        .status(400)
        .type('text/plain')
        .send(`unknown module ${JSON.stringify(module)}: expected one of ${PROBE_MODULES.join(', ')}\n`);
    }
    if (!isAllowed(target, config, deps.getReport())) {
      return void res.status(403).type('text/plain').send(`target ${target} is not a watched domain nor allowed by probes.allow; refusing to connect\n`);
    }
    const deadline = Date.now() + timeoutMs(req, config);
    const turn = queue.submit(
      '',
      () => probe(deps, config, target, module as ProbeModule, deadline, res),
      () => req.socket.destroyed || deadline - Date.now() < MIN_PROBE_MS,
    );
    if (typeof turn === 'string') {
      res.setHeader('Retry-After', String(Math.ceil(config.probes.timeout)));
      return void res.status(429).type('text/plain').send(`${limits.concurrency} probes are running and ${limits.queue} waiting; retry later\n`);
    }
    await turn.catch((err: unknown) => {
      if (!(err instanceof AbandonedError)) throw err;
      if (!req.socket.destroyed) res.status(503).type('text/plain').send('the scrape timeout was up before a probe slot came free\n');
    });
  };
}

/** The probe itself: one deadline for the SRV lookup and the probes together, as Prometheus waits for both. */
async function probe(deps: ProbeRouteDeps, config: Config, target: string, module: ProbeModule, deadline: number, res: Response): Promise<void> {
  const probes = { ...config.probes, timeout: (deadline - Date.now()) / 1000 };
  const ca = trustStore(config.probes.ca, deps.log);
  const { endpoints, srv } = await endpointsOf(target, probes, module);
  const planned = await planProbes(endpoints, { ...probes, timeout: Math.max(deadline - Date.now(), 100) / 1000 });
  const left = Math.max(deadline - Date.now(), 100);
  const latest = deps.getReport();
  const disk = latest && domainsOf(latest).get(target);
  const now = Date.now() / 1000;
  const options = probeOptions(config.probes, ca, left);
  const served = await Promise.all(planned.map(async (p) => judgeServed(await probePlanned(p, options), disk, config.thresholds, now)));
  // Only the endpoint families are rendered, so the disk parts of this Report stay empty.
  const readErrors = Object.fromEntries(READ_ERROR_REASONS.map((r) => [r, 0])) as Report['readErrors'];
  const domainErrors = Object.fromEntries(Object.keys(readErrors).map((r) => [r, 0])) as Report['domainErrors'];
  const report: Report = {
    generatedAt: now,
    scannedAt: now,
    overall: 'ok',
    domains: [],
    files: [],
    readErrors,
    domainErrors,
    sources: [],
    ports: [],
    served,
    srv,
  };
  const body = Buffer.concat(deps.render(report, { endpointsOnly: true }));
  // Not res.send: it hashes every answer for an ETag, a tenth of a loopback probe's CPU, and a probe's answer is never cached.
  res.writeHead(200, { 'Content-Type': deps.contentType, 'Content-Length': body.length }).end(body);
}
