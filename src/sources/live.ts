/**
 * The live source: probes every watched domain's endpoints (DNS SRV with the RFC 6120 fallback,
 * plus `probes.endpoints`) at every address of their hosts, with their TLSA records, on its own
 * schedule (`probes.interval` with jitter, at most `probes.concurrency` at once) and keeps the
 * latest result per endpoint and address, and each SRV lookup's outcome, for scrapes to read.
 * While an SRV lookup fails, the targets of its last answer are probed (SrvMemory).
 * Judging what was served is evaluate/served.ts's job; this file only runs probes and remembers.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { Config } from '../config';
import { messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { Endpoint, ProbeModule, ProbeOptions, ProbeResult, SrvLookup, TimedProbe, TlsaLookup } from '../model/probe';
import { probeEndpoint } from './probe';
import { resolveAddresses, lookupTlsa, type Addresses } from './resolve';
import { mergeEndpoints, resolveEndpoints, type ServiceLookup } from './srv';
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

const key = (e: Endpoint) => `${e.domain}|${e.module}|${e.host}:${e.port}|${e.address ?? ''}`;

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
 * The last answer of each SRV name, so that a failed lookup (SERVFAIL, timeout) keeps probing the
 * targets DNS last gave instead of falling back to the domain's own host (RFC 6120 3.2.1 falls back
 * only when there is no SRV record). Entries of domains no longer watched are dropped each round.
 */
export class SrvMemory {
  private readonly answers = new Map<string, { endpoints: Endpoint[]; answeredAt: number }>();

  /** The endpoints to probe for `lookup` and what to report of it. */
  recall(domain: string, lookup: ServiceLookup, now: number): { endpoints: Endpoint[]; srv: SrvLookup } {
    const { module: _module, endpoints, ...rest } = lookup;
    const id = `${domain}|${lookup.name}`;
    if (lookup.answer !== 'failed') {
      this.answers.set(id, { endpoints, answeredAt: now });
      return { endpoints, srv: { domain, ...rest, answeredAt: now, kept: false } };
    }
    const last = this.answers.get(id);
    if (!last) return { endpoints: [], srv: { domain, ...rest, kept: false } };
    return { endpoints: last.endpoints, srv: { domain, ...rest, answeredAt: last.answeredAt, kept: true } };
  }

  retain(domains: readonly string[]): void {
    const watched = new Set(domains);
    for (const id of this.answers.keys()) if (!watched.has(id.slice(0, id.indexOf('|')))) this.answers.delete(id);
  }
}

/**
 * The endpoints of one domain: SRV-discovered for `probes.modules` (unless probes.srv is false)
 * merged with every configured one; with `only`, just that module's. Each SRV lookup's outcome
 * comes back beside them; a failed one contributes the targets `memory` kept (none without).
 */
export async function endpointsOf(
  domain: string,
  config: ProbeConfig,
  only?: ProbeModule,
  memory: SrvMemory = new SrvMemory(),
): Promise<{ endpoints: Endpoint[]; srv: SrvLookup[] }> {
  const configured = configuredOf(config, domain).map((e) => ({ domain, host: e.host, port: e.port, module: moduleOf(e.service, e.tls) }));
  const found = config.srv
    ? await resolveEndpoints(domain, { servers: config.dns.servers, timeoutMs: config.timeout * 1000, modules: only ? [only] : [...config.modules] })
    : { lookups: [] };
  const now = Date.now() / 1000;
  const recalled = found.lookups.map((lookup) => memory.recall(domain, lookup, now));
  const all = mergeEndpoints(
    recalled.flatMap((r) => r.endpoints),
    configured,
    domain,
  );
  return { endpoints: only ? all.filter((e) => e.module === only) : all, srv: recalled.map((r) => r.srv) };
}

/** An endpoint at one of its addresses, with its TLSA answer; or, when its host has no address, the `dns` failure to report. */
export interface PlannedProbe {
  endpoint: Endpoint;
  tlsa?: TlsaLookup;
  failure?: ProbeResult;
}

/**
 * Every endpoint at every address of its host (A and AAAA, as `probes.ipVersions` allows), with
 * the TLSA records of `_PORT._tcp.HOST`. Each host and each host:port is looked up once, in
 * bounded lanes like the SRV lookups.
 */
export async function planProbes(endpoints: readonly Endpoint[], config: ProbeConfig, stopped: () => boolean = () => false): Promise<PlannedProbe[]> {
  const resolveConfig = { servers: config.dns.servers, timeoutMs: config.timeout * 1000, ipVersions: config.ipVersions };
  const hosts = [...new Set(endpoints.map((e) => e.host))];
  const ports = [...new Map(endpoints.map((e) => [`${e.port} ${e.host}`, e])).values()];
  const [addresses, tlsa] = await Promise.all([
    inLanes(hosts, DNS_LANES, async (host) => [host, await resolveAddresses(host, resolveConfig)] as const, stopped),
    inLanes(ports, DNS_LANES, async (e) => [`${e.port} ${e.host}`, await lookupTlsa(e.host, e.port, resolveConfig)] as const, stopped),
  ]);
  const addressesOf = new Map<string, Addresses>(addresses);
  const tlsaOf = new Map(tlsa);
  return endpoints.flatMap((endpoint): PlannedProbe[] => {
    const found = addressesOf.get(endpoint.host);
    const lookup = tlsaOf.get(`${endpoint.port} ${endpoint.host}`);
    const withTlsa = lookup ? { tlsa: lookup } : {};
    if (!found) return []; // stopped before its lookup
    if (!found.ok) return [{ endpoint, ...withTlsa, failure: { ok: false, endpoint, durationSeconds: 0, reason: 'dns', message: found.message } }];
    return found.addresses.map((address) => ({ endpoint: { ...endpoint, address }, ...withTlsa }));
  });
}

/** The prober's options from `probes`: the trust store (see trustStore), the s2s `from`, a deadline and an abort signal. */
export function probeOptions(config: ProbeConfig, ca: string[] | undefined, timeoutMs: number, signal?: AbortSignal): ProbeOptions {
  return { timeoutMs, ...(signal ? { signal } : {}), ...(ca ? { ca } : {}), ...(config.s2sFrom ? { s2sFrom: config.s2sFrom } : {}) };
}

/** Probes a planned endpoint (or reports why it could not be); never throws. */
export async function probePlanned(planned: PlannedProbe, options: ProbeOptions): Promise<TimedProbe> {
  const result = planned.failure ?? (await probeEndpoint(planned.endpoint, options));
  return { result, probedAt: Date.now() / 1000, ...(planned.tlsa ? { tlsa: planned.tlsa } : {}) };
}

function moduleOf(service: 'c2s' | 's2s' | 'https', mode: 'starttls' | 'direct'): ProbeModule {
  if (service === 'https') return 'https';
  return mode === 'direct' ? `${service}_tls` : service;
}

export class LiveProber {
  private results = new Map<string, TimedProbe>();
  private srv: SrvLookup[] = [];
  private readonly memory = new SrvMemory();
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

  /** The latest result of every endpoint (at every address) still watched. */
  snapshot(): TimedProbe[] {
    return [...this.results.values()];
  }

  /** The latest outcome of every SRV lookup of the watched domains. */
  srvSnapshot(): SrvLookup[] {
    return this.srv;
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
    this.memory.retain(domains);
    const found = await inLanes(domains, DNS_LANES, (d) => endpointsOf(d, this.config, undefined, this.memory), stopped);
    const srv = found.flatMap((f) => f.srv);
    for (const lookup of srv.filter((l) => l.answer === 'failed')) {
      const kept = lookup.kept ? `; probing the targets of the answer from ${new Date(lookup.answeredAt! * 1000).toISOString()}` : '';
      this.log.warn({ event: 'srv_lookup_failed', domain: lookup.domain, reason: lookup.reason }, `${lookup.message ?? lookup.name}${kept}`);
    }
    const endpoints = found.flatMap((f) => f.endpoints).filter((e) => isProbed(e, components));
    const planned = await planProbes(endpoints, this.config, stopped);
    const options = probeOptions(this.config, ca, this.config.timeout * 1000, this.abort.signal);
    const done = await inLanes(planned, this.config.concurrency, (p) => probePlanned(p, options), stopped);
    // In endpoint order, whatever finished first; endpoints no longer discovered lose their series.
    this.results = new Map(done.map((probe) => [key(probe.result.endpoint), probe]));
    this.srv = srv;
    this.onUpdate();
  }
}
