/**
 * The live source: probes every watched domain's endpoints (DNS SRV with the RFC 6120 fallback,
 * plus `probes.endpoints`) on its own schedule (`probes.interval` with jitter, at most
 * `probes.concurrency` at once) and keeps the latest result per endpoint for scrapes to read.
 * Judging what was served is evaluate/served.ts's job; this file only runs probes and remembers.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { Config } from '../config';
import { messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { TimedProbe } from '../model/probe';
import { probeEndpoint } from './probe';
import type { Endpoint, ProbeModule } from '../model/probe';
import { mergeEndpoints, resolveEndpoints } from './srv';
import { inLanes } from '../shared/lanes';

type ProbeConfig = Config['probes'];

const C2S: ReadonlySet<ProbeModule> = new Set(['c2s', 'c2s_tls']);

/**
 * Whether an endpoint is probed at all. Clients never log in to a Component: Prosody answers c2s
 * to one with host-unknown, a permanent failure that says nothing about its certificate. Its s2s
 * endpoints are probed.
 */
export const isProbed = (e: Endpoint, components: ReadonlySet<string>): boolean => !(components.has(e.domain) && C2S.has(e.module));

/**
 * Domains whose SRV names are looked up at once (4 queries and one c-ares channel each). All at
 * once, 10,000 domains held 10,000 resolvers, 40,000 queries and their promise chains: heap 137 ->
 * 65 MB and RSS 352 -> 290 MB with 32 (bench:scan setup, heap snapshot), and no flood of the DNS
 * server. The price: when every lookup times out, a round takes domains / 32 x probes.timeout.
 */
const DNS_LANES = 32;

const key = (e: Endpoint) => `${e.domain}|${e.module}|${e.host}:${e.port}`;

/**
 * System roots plus the `probes.ca` files: what "trusted" means for a served chain. Undefined
 * (node's bundled roots) when no file is configured, or when one cannot be read (logged).
 * Read once per config (the same list object until a reload): the prober keeps one TLS context
 * per trust list, and building one from ~150 roots on every /probe request cost more than a probe.
 */
const trustStores = new WeakMap<readonly string[], string[] | undefined>();
export function trustStore(caFiles: readonly string[], log: Logger): string[] | undefined {
  if (caFiles.length === 0) return undefined;
  if (trustStores.has(caFiles)) return trustStores.get(caFiles);
  let store: string[] | undefined;
  try {
    store = [...tls.rootCertificates, ...caFiles.map((file) => fs.readFileSync(file, 'utf8'))];
  } catch (err) {
    log.error({ err: { message: messageOf(err) } }, 'cannot read probes.ca; judging trust against the system roots only');
  }
  trustStores.set(caFiles, store);
  return store;
}

/** `probes.endpoints` by domain, built once per config: a linear search per /probe request is O(domains²) per scrape round. */
const configuredByDomain = new WeakMap<ProbeConfig['endpoints'], Map<string, ProbeConfig['endpoints']>>();
function configuredOf(config: ProbeConfig, domain: string): ProbeConfig['endpoints'] {
  let index = configuredByDomain.get(config.endpoints);
  if (!index) {
    index = new Map();
    for (const e of config.endpoints) {
      const list = index.get(e.domain) ?? [];
      list.push(e);
      index.set(e.domain, list);
    }
    configuredByDomain.set(config.endpoints, index);
  }
  return index.get(domain) ?? [];
}

/**
 * The endpoints of one domain: SRV-discovered for `probes.modules` (unless probes.srv is false)
 * merged with every configured one; with `only`, just that module's. DNS failures come back beside
 * them (the RFC 6120 fallback is still probed, so they are worth a log line, not a lost probe).
 */
export async function endpointsOf(domain: string, config: ProbeConfig, only?: ProbeModule): Promise<{ endpoints: Endpoint[]; dnsErrors: string[] }> {
  const configured = configuredOf(config, domain).map((e) => ({ domain, host: e.host, port: e.port, module: moduleOf(e.service, e.tls) }));
  const found = config.srv
    ? await resolveEndpoints(domain, { servers: config.dns.servers, timeoutMs: config.timeout * 1000, modules: only ? [only] : [...config.modules] })
    : { endpoints: [], errors: [] };
  const all = mergeEndpoints(found.endpoints, configured, domain);
  return { endpoints: only ? all.filter((e) => e.module === only) : all, dnsErrors: found.errors.map((e) => e.message) };
}

function moduleOf(service: 'c2s' | 's2s' | 'https', mode: 'starttls' | 'direct'): ProbeModule {
  if (service === 'https') return 'https';
  return mode === 'direct' ? `${service}_tls` : service;
}

export class LiveProber {
  private results = new Map<string, TimedProbe>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Aborts the probes in flight on stop(): a round over many slow endpoints may take minutes. */
  private readonly abort = new AbortController();

  constructor(
    private config: ProbeConfig,
    private readonly log: Logger,
    private readonly onUpdate: () => void,
  ) {}

  /** The latest result of every endpoint still watched. */
  snapshot(): TimedProbe[] {
    return [...this.results.values()];
  }

  reconfigure(config: ProbeConfig): void {
    this.config = config;
  }

  /** Probes every endpoint of `domains` now; concurrent callers share the round in progress. */
  runOnce(domains: readonly string[], components: ReadonlySet<string> = new Set()): Promise<void> {
    this.running ??= this.round(domains, components).finally(() => (this.running = undefined));
    return this.running;
  }

  start(targets: () => { domains: readonly string[]; components: ReadonlySet<string> }): void {
    const once = () => {
      const { domains, components } = targets();
      return this.runOnce(domains, components);
    };
    const loop = () => {
      if (this.stopped) return;
      // +-10% jitter so many exporters (or restarts) do not probe in lockstep.
      const delay = this.config.interval * 1000 * (0.9 + Math.random() * 0.2);
      this.timer = setTimeout(() => void once().finally(loop), delay);
      this.timer.unref();
    };
    void once().finally(loop);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    // DNS lookups in flight cannot be aborted: wait for the round only briefly.
    await Promise.race([this.running?.catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  }

  private async round(domains: readonly string[], components: ReadonlySet<string>): Promise<void> {
    if (!this.config.enabled) return;
    const ca = trustStore(this.config.ca, this.log);
    const stopped = () => this.stopped;
    const found = await inLanes(domains, DNS_LANES, (d) => endpointsOf(d, this.config), stopped);
    for (const message of found.flatMap((f) => f.dnsErrors)) this.log.warn({ event: 'srv_lookup_failed' }, message);
    const endpoints = found.flatMap((f) => f.endpoints).filter((e) => isProbed(e, components));
    const timeoutMs = this.config.timeout * 1000;
    const done = await inLanes(
      endpoints,
      this.config.concurrency,
      async (endpoint): Promise<TimedProbe> => ({
        result: await probeEndpoint(endpoint, { timeoutMs, signal: this.abort.signal, ...(ca ? { ca } : {}) }),
        probedAt: Date.now() / 1000,
      }),
      stopped,
    );
    // In endpoint order, whatever finished first; endpoints no longer discovered lose their series.
    this.results = new Map(done.map((probe) => [key(probe.result.endpoint), probe]));
    this.onUpdate();
  }
}
