/**
 * The SRV source: which endpoints to probe for a domain. Looks up the four XMPP SRV names
 * (`_xmpp-client`/`_xmpp-server`, RFC 6120 3.2.1; `_xmpps-client`/`_xmpps-server`, XEP-0368),
 * orders their targets as RFC 2782 says, applies RFC 6120 3.2.2's fallback (the domain itself on
 * 5222 / 5269) and merges in endpoints configured by hand. DNS failures come back as data with a
 * reason code from SRV_ERROR_CODES; nothing here throws.
 *
 * It does not resolve targets to addresses (resolve.ts does), check DNSSEC, remember earlier
 * answers (the live prober keeps the last targets while DNS fails), follow the `probes.srv` switch
 * (the caller decides whether to look up at all), or probe.
 */
import { promises as dns, type SrvRecord } from 'node:dns';
import { messageOf } from '../shared/errors';
import { DNS_FAILURE_REASONS, SRV_SERVICE_OF_MODULE, type DnsFailureReason, type Endpoint, type ProbeModule, type SrvLookup } from '../model/probe';

/** One SRV name per module; only the STARTTLS services have a fallback (XEP-0368 defines none). */
const SRV_SERVICES: ReadonlyArray<{ module: ProbeModule; prefix: string; fallbackPort?: number }> = [
  { module: 'c2s', prefix: '_xmpp-client._tcp', fallbackPort: 5222 },
  { module: 'c2s_tls', prefix: '_xmpps-client._tcp' },
  { module: 's2s', prefix: '_xmpp-server._tcp', fallbackPort: 5269 },
  { module: 's2s_tls', prefix: '_xmpps-server._tcp' },
];

/** Why a lookup failed: a stable contract (metric label values). "No such record" is not a failure. */
export const SRV_ERROR_CODES = DNS_FAILURE_REASONS;
export type SrvErrorCode = DnsFailureReason;

export interface SrvError {
  /** The SRV name looked up, e.g. `_xmpp-client._tcp.example.org`. */
  record: string;
  code: SrvErrorCode;
  message: string;
}

export interface ResolveOptions {
  /** DNS servers as "127.0.0.1", "127.0.0.1:5353" or "[::1]:53"; unset: the system's (resolv.conf). */
  servers?: string[];
  /** Upper bound for the whole call (all lookups run in parallel). */
  timeoutMs: number;
  /** Modules to look up; default: the four SRV modules. `https` has no SRV name and is ignored. */
  modules?: ProbeModule[];
  /** Uniform in [0, 1), for RFC 2782's weighted selection; tests pass a fixed sequence. */
  random?: () => number;
}

/** One SRV name's lookup and the endpoints it yields (none when it failed: the caller may keep earlier ones). */
export interface ServiceLookup extends Omit<SrvLookup, 'domain' | 'answeredAt' | 'kept'> {
  module: ProbeModule;
  endpoints: Endpoint[];
}

export interface Resolved {
  endpoints: Endpoint[];
  errors: SrvError[];
  lookups: ServiceLookup[];
}

/** The node error codes we name; anything else is `error` (its message keeps node's code). */
const NODE_CODES: Record<string, SrvErrorCode> = {
  ESERVFAIL: 'servfail',
  EREFUSED: 'refused', // the server answered REFUSED
  ECONNREFUSED: 'refused', // nothing listens on that port (ICMP port unreachable)
  ETIMEOUT: 'timeout', // c-ares gave up after its own tries
  ECANCELLED: 'timeout', // our deadline cancelled the resolver
  EFORMERR: 'bad_response',
  EBADRESP: 'bad_response',
  ENOTIMP: 'bad_response',
  EEOF: 'bad_response',
  EBADNAME: 'bad_name',
  EBADQUERY: 'bad_name',
  ERR_INVALID_IP_ADDRESS: 'bad_server', // setServers takes addresses only, never host names
};

/** "Does not exist": NXDOMAIN (ENOTFOUND) or the name exists without SRV (ENODATA). */
const NO_RECORD = new Set(['ENOTFOUND', 'ENODATA']);

type Lookup =
  | { kind: 'records'; records: SrvRecord[] }
  | { kind: 'none'; nxdomain: boolean } // no such record (NXDOMAIN, or the name without SRV records)
  | { kind: 'unavailable' } // a single "." target: the service is decidedly not offered
  | { kind: 'failed'; error: SrvError };

/**
 * The endpoints to probe for `domain`, in RFC 2782 order per module (modules in the order c2s,
 * c2s_tls, s2s, s2s_tls), deduplicated, with each lookup's outcome in `lookups` and failures in
 * `errors`. Never throws.
 *
 * Fallback rule: c2s and s2s fall back to the domain on 5222 / 5269 only when DNS answered that
 * there is no SRV record (NXDOMAIN, or the name without SRV records), as RFC 6120 3.2.1 step 5
 * says. A failed lookup (SERVFAIL, timeout, refused) yields no endpoints: the targets are unknown,
 * not absent, and probing the fallback host instead would replace the real targets' series with
 * its own (usually a `dns` or `connect` failure). The live prober keeps the last answer's targets
 * meanwhile. A single "." target disables the module and its fallback (RFC 6120 3.2.1, RFC 2782).
 */
export async function resolveEndpoints(domain: string, options: ResolveOptions): Promise<Resolved> {
  const name = normaliseHost(domain);
  const wanted = options.modules ?? SRV_SERVICES.map((s) => s.module);
  const services = SRV_SERVICES.filter((s) => wanted.includes(s.module));
  const lookups = await lookupAll(
    services.map((s) => `${s.prefix}.${name}`),
    options,
  );
  const random = options.random ?? Math.random;
  const outcomes = services.map((service, i) => outcomeOf(lookups[i] ?? { kind: 'none', nxdomain: false }, service, domain, name, random));
  return {
    endpoints: dedupe(outcomes.flatMap((o) => o.endpoints)),
    errors: lookups.flatMap((l) => (l?.kind === 'failed' ? [l.error] : [])),
    lookups: outcomes,
  };
}

function outcomeOf(lookup: Lookup, service: (typeof SRV_SERVICES)[number], domain: string, name: string, random: () => number): ServiceLookup {
  const module = service.module;
  const base = { module, service: SRV_SERVICE_OF_MODULE[module as keyof typeof SRV_SERVICE_OF_MODULE], name: `${service.prefix}.${name}` };
  if (lookup.kind === 'failed') return { ...base, answer: 'failed', reason: lookup.error.code, message: lookup.error.message, endpoints: [] };
  if (lookup.kind === 'unavailable') return { ...base, answer: 'not_offered', endpoints: [] };
  if (lookup.kind === 'records') {
    const usable = lookup.records.filter((r) => !isRoot(r.name)); // "." among other targets: skip it
    const endpoints = rfc2782Order(usable, random).map((r) => ({ domain, host: normaliseHost(r.name), port: r.port, module }));
    return { ...base, answer: 'records', endpoints };
  }
  const fallback = service.fallbackPort === undefined ? [] : [{ domain, host: name, port: service.fallbackPort, module }];
  return { ...base, answer: lookup.nxdomain ? 'nxdomain' : 'no_records', endpoints: fallback };
}

/**
 * All lookups in parallel on one private Resolver (so `servers` never touches the process-wide
 * resolver). c-ares's own timeout/tries keep a lost packet from failing at once (two tries of half
 * the budget each), but its retry schedule varies between versions, so the deadline is enforced
 * here too: at `timeoutMs` the resolver is cancelled and every pending lookup fails as `timeout`.
 */
async function lookupAll(records: string[], options: ResolveOptions): Promise<Lookup[]> {
  let resolver: dns.Resolver;
  try {
    resolver = new dns.Resolver({ timeout: Math.max(1, Math.floor(options.timeoutMs / 2)), tries: 2 });
    if (options.servers && options.servers.length > 0) resolver.setServers(options.servers);
  } catch (err) {
    // A bad server address must not send the queries to the system resolver instead.
    return records.map((record) => ({ kind: 'failed', error: srvError(record, err, options.timeoutMs) }));
  }
  const deadline = setTimeout(() => resolver.cancel(), options.timeoutMs);
  try {
    return await Promise.all(records.map((record) => lookupOne(resolver, record, options.timeoutMs)));
  } finally {
    clearTimeout(deadline);
  }
}

async function lookupOne(resolver: dns.Resolver, record: string, timeoutMs: number): Promise<Lookup> {
  try {
    const records = await resolver.resolveSrv(record);
    if (records.length === 0) return { kind: 'none', nxdomain: false };
    const [only] = records;
    if (records.length === 1 && only && isRoot(only.name)) return { kind: 'unavailable' };
    return { kind: 'records', records };
  } catch (err) {
    if (NO_RECORD.has(errorCode(err))) return { kind: 'none', nxdomain: errorCode(err) === 'ENOTFOUND' };
    return { kind: 'failed', error: srvError(record, err, timeoutMs) };
  }
}

function srvError(record: string, err: unknown, timeoutMs: number): SrvError {
  const code = NODE_CODES[errorCode(err)] ?? 'error';
  // ECANCELLED would read as if someone aborted on purpose; say what happened instead.
  const message = code === 'timeout' ? `${record}: no answer within ${timeoutMs} ms` : messageOf(err);
  return { record, code, message };
}

const errorCode = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' || typeof code === 'number' ? String(code) : '';
};

/** c-ares reports the root target "." as an empty name. */
const isRoot = (target: string) => target === '' || target === '.';

/** Lower-case, without the trailing dot: the form endpoints are compared and shown in. */
export const normaliseHost = (host: string) => host.toLowerCase().replace(/\.$/, '');

/**
 * RFC 2782 order: priority ascending; within one priority, weighted random selection: put the
 * weight-0 records first, draw an integer uniformly from 0..sum-of-weights (inclusive), take the
 * first record whose running weight sum is >= the draw, remove it, repeat. Weight-0 records are
 * thus picked only when the draw is 0 (RFC 2782: "a very small chance"). Otherwise the answer's
 * order is kept, so `random = () => 0` yields zero-weight records first, then DNS order.
 */
export function rfc2782Order<T extends { priority: number; weight: number }>(records: readonly T[], random: () => number = Math.random): T[] {
  const priorities = [...new Set(records.map((r) => r.priority))].sort((a, b) => a - b);
  return priorities.flatMap((p) =>
    weightedOrder(
      records.filter((r) => r.priority === p),
      random,
    ),
  );
}

function weightedOrder<T extends { weight: number }>(group: T[], random: () => number): T[] {
  const left = [...group.filter((r) => r.weight === 0), ...group.filter((r) => r.weight !== 0)];
  const ordered: T[] = [];
  while (left.length > 0) {
    const total = left.reduce((sum, r) => sum + r.weight, 0);
    const draw = random();
    const pick = draw >= 0 && draw < 1 ? Math.floor(draw * (total + 1)) : 0; // a broken random cannot loop
    let running = 0;
    const index = left.findIndex((r) => (running += r.weight) >= pick);
    ordered.push(...left.splice(Math.max(index, 0), 1));
  }
  return ordered;
}

const endpointKey = (e: Endpoint) => `${e.module} ${e.host} ${e.port}`;

/** Drops later duplicates (same module, host and port), keeping the first. */
function dedupe(endpoints: Endpoint[]): Endpoint[] {
  const seen = new Set<string>();
  return endpoints.filter((e) => {
    const key = endpointKey(e);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Discovered plus configured endpoints of `domain` (configured ones after the discovered ones,
 * duplicates dropped). Turning discovery off is `probes.srv: false`, handled by the caller before
 * any lookup. Pure.
 */
export function mergeEndpoints(discovered: readonly Endpoint[], configured: readonly Endpoint[], domain: string): Endpoint[] {
  const ofDomain = (list: readonly Endpoint[]) => list.filter((e) => normaliseHost(e.domain) === normaliseHost(domain));
  const explicit = ofDomain(configured).map(({ domain: d, host, port, module }) => ({ domain: d, host: normaliseHost(host), port, module }));
  return dedupe([...ofDomain(discovered), ...explicit]);
}
