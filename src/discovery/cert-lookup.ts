/**
 * Which certificate and key Prosody 0.12 uses for a host, per TLS service and port, from facts
 * gathered elsewhere (a directory walk, the certificates Prosody would index, the parsed config).
 * Pure: no fs, no clock. A clean function of its facts, for the exporter and the renewal worker.
 *
 * Function by function (Prosody 0.12.3, /usr/lib/prosody; same in 0.12.0-0.12.5):
 * - identitiesOf         = util/x509.lua get_identities: SAN dNSNames (U-label form, wildcards kept)
 *                          and the subject CN count for every service ("*"); xmppAddr and SRVName
 *                          only for xmpp-client/xmpp-server or their own service.
 * - buildIndex           = certmanager index_certs (the walk and file rules are done by the caller,
 *                          see LookupFacts.indexed): name -> files carrying it.
 * - findCertInIndex      = certmanager find_cert_in_index: the exact name, else `*.` + the name
 *                          without its first label (never both); the file must carry it for "*".
 *                          Several files: Prosody takes whichever `next()` yields; we take the
 *                          first and list the others as `alternatives`.
 * - findCert             = certmanager find_cert with crt_try/key_try: the option itself when it
 *                          is a file, then DIR/NAME.crt+.key, DIR/NAME/fullchain.pem+privkey.pem,
 *                          DIR/NAME.pem; a pair only counts when both files exist.
 * - findHostCert         = certmanager find_host_cert: index, then file names, for the host, then
 *                          each parent (drop the first label) down to the last label.
 * - findServiceCert      = certmanager find_service_cert (a direct-TLS port's own context).
 * - createContext        = certmanager create_context + util/sslconfig apply: automatic lookup,
 *                          then the global `ssl`, then the given tables last-to-first, so the first
 *                          given wins; `certificate` and `key` are merged separately.
 * - starttls             = modules/mod_tls.lua module.load: c2s and s2s contexts of a host.
 * - portContext, sniContext = core/portmanager.lua get_port_ssl_ctx and add_sni_host: direct TLS.
 * - checkCertsView       = util/prosodyctl/check.lua `check certs`: what prosodyctl reports.
 * Not modelled: interface-keyed entries of `*_ssl` tables other than the first configured interface,
 * mod_net_multiplex, and the SNI key of an https host with `http_host` set.
 */
import { resolve } from 'node:path';
import { domainToUnicode } from 'node:url';
import type { Certificate } from '../cert';
import type { FileRule, HostCert, ServiceLookup, TlsService } from '../model/inventory';
import type { LuaTable, LuaValue } from './lua-config';
import { nameprep } from './lua-config';
import { option, rawOption, type ProsodyConfig } from './prosody-config';
import { exact } from '../shared/exact';

export type { FileRule, HostCert, ServiceLookup, TlsService } from '../model/inventory';

/** One name a certificate carries for Prosody's index, and whether it serves every service ("*"). */
export interface Identity {
  name: string;
  any: boolean;
}

export interface IndexedFile {
  file: string;
  names: readonly Identity[];
}

export interface LookupFacts {
  /** Absolute: the `certificates` directory (see effectiveCertsDir). */
  certsDir: string;
  /** Prosody's config directory (relative paths in options resolve against it); default: certsDir's parent. */
  configDir?: string;
  /** The parsed Prosody config; without one, every option is unset (a configured domain). */
  config?: ProsodyConfig;
  /** From a directory walk done elsewhere (stat for paths outside it). */
  isFile(path: string): boolean;
  /**
   * The files Prosody's index_certs would index, in walk order: up to two directory levels below
   * certsDir (dot-directories skipped), named `*.crt` or `*fullchain*`, first line exactly
   * `-----BEGIN CERTIFICATE-----`, the key by find_matching_key present, the first certificate valid
   * now; with identitiesOf(that certificate).
   */
  indexed: readonly IndexedFile[];
  /**
   * Files that pass every rule of `indexed` but the date: not valid yet, so Prosody indexes them at
   * a later start or reload. The lookup ignores them; the renewal worker's takeover does not.
   */
  pending?: readonly IndexedFile[];
}

export interface CandidatePair {
  cert: string;
  key: string;
  via: FileRule;
}

// ---- names -------------------------------------------------------------------------------

/** util/x509.lua get_identities, on our parsed certificate. */
export function identitiesOf(cert: Pick<Certificate, 'dnsNames' | 'commonName' | 'xmppAddrs' | 'srvNames'>): Identity[] {
  const ids: Identity[] = [];
  for (const dns of cert.dnsNames) {
    const wild = dns.startsWith('*.');
    ids.push({ name: (wild ? '*.' : '') + toUnicode(nameprep(wild ? dns.slice(2) : dns)), any: true });
  }
  for (const addr of cert.xmppAddrs) ids.push({ name: nameprep(addr), any: false });
  for (const srv of cert.srvNames) {
    const m = /^_[^.]+\.(.*)$/.exec(srv);
    if (m) ids.push({ name: nameprep(m[1]!), any: false });
  }
  if (cert.commonName) ids.push({ name: nameprep(cert.commonName), any: true });
  return exact(ids);
}

const toUnicode = (name: string) => (name.includes('xn--') ? domainToUnicode(name) || name : name);

// ---- certmanager: index and file names -----------------------------------------------------

type Index = Map<string, Array<{ file: string; any: boolean }>>;

/** name -> files carrying it, built once per facts object: a lookup is then O(1), not O(files). */
const indexes = new WeakMap<LookupFacts, Index>();
function buildIndex(facts: LookupFacts): Index {
  let index = indexes.get(facts);
  if (index) return index;
  index = new Map();
  for (const { file, names } of facts.indexed) {
    for (const { name, any } of names) {
      const list = index.get(name) ?? [];
      const known = list.find((e) => e.file === file);
      if (known) known.any ||= any;
      else list.push({ file, any });
      index.set(name, list);
    }
  }
  indexes.set(facts, index);
  return index;
}

/** find_matching_key: `.crt` -> `.key` at the end, and every `fullchain` in the path -> `privkey`. */
export function matchingKey(certPath: string): string {
  return certPath.replace(/\.crt$/, '.key').replaceAll('fullchain', 'privkey');
}

type Found = Omit<HostCert, 'host' | 'keyFound' | 'matchedName'> | undefined;

function findCertInIndex(name: string, facts: LookupFacts): Found {
  const index = buildIndex(facts);
  const entries = index.get(name) ?? index.get(name.replace(/^[^.]+\./, '*.'));
  const usable = entries?.filter((e) => e.any) ?? [];
  if (usable.length === 0) return undefined;
  const [first, ...rest] = usable.map((e) => ({ cert: e.file, key: matchingKey(e.file) }));
  return { ...first!, via: 'index', ...(rest.length > 0 ? { alternatives: rest } : {}) };
}

/** The file-name pairs Prosody tries for one name in one directory, in its order (crt_try[2..4]). */
export function candidatePaths(certsDir: string, name: string): CandidatePair[] {
  const dir = certsDir.replace(/\/+$/, '');
  return [
    { cert: `${dir}/${name}.crt`, key: `${dir}/${name}.key`, via: 'crt' },
    { cert: `${dir}/${name}/fullchain.pem`, key: `${dir}/${name}/privkey.pem`, via: 'fullchain' },
    { cert: `${dir}/${name}.pem`, key: `${dir}/${name}.pem`, via: 'pem' },
  ];
}

/** find_cert(user_certs, name): `where` is the option (a file or a directory), else the certificates directory. */
function findCert(where: string | undefined, name: string, facts: LookupFacts): Found {
  const base = where ?? facts.certsDir;
  const pairs = [optionFile(base), ...candidatePaths(base, name)];
  return pairs.find((p) => facts.isFile(p.cert) && facts.isFile(p.key));
}

/** crt_try's first, empty entry: the path itself as the certificate, its key derived from it. */
function optionFile(path: string): CandidatePair {
  if (path.endsWith('.crt')) return { cert: path, key: `${path.slice(0, -4)}.key`, via: 'crt' };
  if (path.endsWith('/fullchain.pem')) return { cert: path, key: `${path.slice(0, -13)}privkey.pem`, via: 'fullchain' };
  return { cert: path, key: path, via: 'pem' };
}

const configDir = (facts: LookupFacts) => facts.config?.dir ?? facts.configDir ?? resolve(facts.certsDir, '..');

/** configmanager.get(host, "certificate") as find_host_cert passes it: a path, absolute. */
function certificateOptionFor(name: string, facts: LookupFacts): string | undefined {
  const value = option(facts.config, name, 'certificate');
  return typeof value === 'string' ? resolve(configDir(facts), value) : undefined;
}

/** Answers per facts object: serviceLookups asks for the same host (and port) several times. */
const memo = new WeakMap<LookupFacts, Map<string, HostCert | undefined>>();
function remembered(facts: LookupFacts, id: string, compute: () => HostCert | undefined): HostCert | undefined {
  let known = memo.get(facts);
  if (!known) memo.set(facts, (known = new Map<string, HostCert | undefined>()));
  if (!known.has(id)) known.set(id, compute());
  return known.get(id);
}

/** find_host_cert(host), recursing over parent domains; `host` in Prosody's (nameprep'd) form. */
export function findHostCert(host: string, facts: LookupFacts): HostCert | undefined {
  return remembered(facts, `host ${host}`, () => findHostCertOnce(host, facts));
}

function findHostCertOnce(host: string, facts: LookupFacts): HostCert | undefined {
  const wanted = nameprep(host);
  for (let name: string | undefined = wanted; name; name = parentOf(name)) {
    const hit = findCertInIndex(name, facts) ?? findCert(certificateOptionFor(name, facts), name, facts);
    if (hit) return { host: wanted, ...hit, keyFound: true, matchedName: name };
  }
  return undefined;
}

/** `host:match("%.(.+)$")`: everything after the first dot; undefined for a single label. */
function parentOf(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot >= 0 && dot < name.length - 1 ? name.slice(dot + 1) : undefined;
}

/** find_service_cert(service, port): any indexed certificate first (Lua `pairs` order), else `<service>_certificate`. */
function findServiceCert(service: string, port: number, facts: LookupFacts): HostCert | undefined {
  return remembered(facts, `service ${service} ${port}`, () => findServiceCertOnce(service, port, facts));
}

function findServiceCertOnce(service: string, port: number, facts: LookupFacts): HostCert | undefined {
  // Any indexed certificate; which one is up to Lua's hash order, so every other one is an alternative.
  const indexed = facts.indexed.filter((f) => f.names.some((n) => n.any));
  if (indexed.length > 0) {
    const [first, ...rest] = indexed.map((f) => ({ cert: f.file, key: matchingKey(f.file) }));
    return { host: service, ...first!, keyFound: true, via: 'index', matchedName: service, ...(rest.length > 0 ? { alternatives: rest } : {}) };
  }
  let where = rawOption(facts.config, '*', `${service}_certificate`);
  if (isTable(where)) where = where.fields.get(port) ?? where.fields.get('default');
  const hit = findCert(typeof where === 'string' ? resolve(configDir(facts), where) : undefined, service, facts);
  return hit ? { host: service, ...hit, keyFound: true, matchedName: service } : undefined;
}

// ---- create_context: merging the tables ----------------------------------------------------

/** One table given to create_context (with a label for the detail line), or a certificate a lookup found. */
interface Layer {
  label: string;
  table?: LuaValue | undefined;
  found?: HostCert | undefined;
}

interface Resolved {
  cert?: HostCert;
  unknown?: string;
}

const isTable = (v: LuaValue | undefined): v is LuaTable => typeof v === 'object' && v.kind === 'table';

/** `at`: where a config table sets it (`file:line`), when known. */
type Field = { layer: Layer; value: LuaValue; at?: string };

/** The highest layer that sets `name` (a found certificate sets both certificate and key). */
function field(layers: Layer[], name: 'certificate' | 'key'): Field | undefined {
  for (const layer of layers) {
    if (layer.found) return { layer, value: name === 'certificate' ? layer.found.cert : layer.found.key };
    const table = isTable(layer.table) ? layer.table : undefined;
    const value = table?.fields.get(name);
    if (value === undefined) continue;
    const line = table?.lines?.get(name);
    return { layer, value, ...(table?.file && line ? { at: `${table.file}:${line}` } : {}) };
  }
  return undefined;
}

/**
 * create_context(host, mode, ...): `auto` first, the global `ssl` over it, then `layers` last to
 * first (the first wins). Each of certificate and key is taken from the highest table that has it.
 */
function createContext(host: string, auto: HostCert | undefined, layers: Layer[], facts: LookupFacts): Resolved {
  const all: Layer[] = [...layers, { label: 'ssl (global)', table: rawOption(facts.config, '*', 'ssl') }, { label: 'automatic', found: auto }];
  const cert = field(all, 'certificate');
  const key = field(all, 'key');
  for (const f of [cert, key]) if (typeof f?.value === 'object' && f.value.kind === 'computed') return { unknown: computedNote(f.layer.label, f.value.line) };
  if (!cert || typeof cert.value !== 'string') return {};
  const keyPath = typeof key?.value === 'string' ? resolve(configDir(facts), key.value) : undefined;
  const keyFound = key?.layer.found && key.layer === cert.layer ? key.layer.found.keyFound : keyPath !== undefined && facts.isFile(keyPath);
  // A key set by a table (possibly one that sets only `key`): say which, and where.
  const keySet = key && !key.layer.found ? { keySetBy: key.layer.label, ...(key.at ? { keySetAt: key.at } : {}) } : {};
  if (cert.layer.found) return { cert: { ...cert.layer.found, host, key: keyPath ?? '', keyFound, ...keySet } };
  const certPath = resolve(configDir(facts), cert.value);
  const setAt = cert.at ? { setAt: cert.at } : {};
  return { cert: { host, cert: certPath, key: keyPath ?? '', keyFound, via: 'option', matchedName: host, setBy: cert.layer.label, ...setAt, ...keySet } };
}

const computedNote = (label: string, line: number) =>
  `the certificate or key in ${label} is computed at run time (config line ${line}); cannot tell which file Prosody uses`;

// ---- mod_tls, portmanager, prosodyctl ------------------------------------------------------

/** mod_tls module.load: the host's table, else its parent's, for `ssl` and `<service>_ssl`. */
function starttls(host: string, service: 'c2s' | 's2s', facts: LookupFacts): Resolved {
  const parent = parentOf(host);
  const own = (h: string | undefined, key: string) => ({ h, v: rawOption(facts.config, h, key) });
  const pick = (key: string): Layer => {
    const a = own(host, key);
    const b = a.v !== undefined ? a : own(parent, key);
    return { label: `${key} of ${b.v !== undefined ? b.h : host}`, table: b.v };
  };
  const layers = [pick(`${service}_ssl`), pick('ssl'), { label: `${service}_ssl (global)`, table: rawOption(facts.config, '*', `${service}_ssl`) }];
  return createContext(host, findHostCert(host, facts), layers, facts);
}

/** get_port_ssl_ctx: the context of a direct-TLS port itself (what a client without SNI gets). */
function portContext(service: TlsService, port: number, facts: LookupFacts): Resolved {
  const globalSsl = rawOption(facts.config, '*', 'ssl');
  const prefixSsl = rawOption(facts.config, '*', `${service}_ssl`) ?? globalSsl;
  const iface = firstInterface(service, facts);
  const sub = (t: LuaValue | undefined, k: string | number) => (isTable(t) ? t.fields.get(k) : undefined);
  const label = prefixSsl === globalSsl ? 'ssl (global)' : `${service}_ssl (global)`;
  const layers: Layer[] = [
    { label: `${label}["${iface}"]`, table: sub(prefixSsl, iface) },
    { label: `${label}[${port}]`, table: sub(prefixSsl, port) },
    { label, table: prefixSsl },
    { label: `ssl (global)["${iface}"]`, table: sub(globalSsl, iface) },
    { label: `ssl (global)[${port}]`, table: sub(globalSsl, port) },
  ];
  return createContext(`${service} port ${port}`, findServiceCert(service, port, facts), layers, facts);
}

/**
 * add_sni_host: the host's `<service>_ssl` (its own, else the global one), then the certificate
 * found for the host (or its `<service>_host` / `http_host`), then the port's own context.
 */
function sniContext(host: string, service: TlsService, port: number, facts: LookupFacts): Resolved {
  const alternate = option(facts.config, host, `${service}_host`) ?? (service === 'https' ? option(facts.config, host, 'http_host') : undefined);
  const own = rawOption(facts.config, host, `${service}_ssl`);
  const portCtx = portContext(service, port, facts);
  const layers: Layer[] = [
    { label: own !== undefined ? `${service}_ssl of ${host}` : `${service}_ssl (global)`, table: option(facts.config, host, `${service}_ssl`) },
    { label: 'automatic', found: findHostCert(typeof alternate === 'string' ? alternate : host, facts) },
    { label: `the ${service} port`, found: portCtx.cert },
  ];
  if (portCtx.unknown && !layers[0]!.table && !layers[1]!.found) return portCtx;
  return createContext(host, findHostCert(host, facts), layers, facts);
}

function firstInterface(service: TlsService, facts: LookupFacts): string {
  const v = rawOption(facts.config, '*', `${service}_interfaces`) ?? rawOption(facts.config, '*', 'interfaces');
  if (typeof v === 'string') return v;
  const first = isTable(v) ? v.fields.get(1) : undefined;
  return typeof first === 'string' ? first : '*';
}

/**
 * Every certificate a direct-TLS port's own context may load: the one a `<service>_ssl` or global
 * `ssl` table names, else every indexed one (find_service_cert takes any), else find_cert's.
 */
export function portCertificates(
  service: TlsService,
  port: number,
  facts: LookupFacts,
): { candidates: Array<{ cert: string; key: string; keyFound: boolean }>; setBy?: string } {
  const ctx = portContext(service, port, facts);
  if (!ctx.cert) return { candidates: [] };
  const { cert } = ctx;
  if (cert.via !== 'index' || cert.setBy)
    return { candidates: [{ cert: cert.cert, key: cert.key, keyFound: cert.keyFound }], ...(cert.setBy ? { setBy: cert.setBy } : {}) };
  const indexed = facts.indexed.filter((f) => f.names.some((n) => n.any));
  return { candidates: indexed.map((f) => ({ cert: f.file, key: matchingKey(f.file), keyFound: true })) };
}

export const DIRECT_TLS_SERVICES: readonly TlsService[] = ['c2s_direct_tls', 's2s_direct_tls', 'legacy_ssl', 'https'];

const DEFAULT_PORTS: Record<TlsService, number[]> = { c2s: [5222], s2s: [5269], c2s_direct_tls: [], s2s_direct_tls: [], legacy_ssl: [], https: [5281] };

/** `<service>_ports` (a number or a list), else the service's default port. */
export function servicePorts(service: TlsService, facts: Pick<LookupFacts, 'config'>): number[] {
  const v = rawOption(facts.config, '*', `${service}_ports`);
  if (typeof v === 'number') return [v];
  if (isTable(v)) return [...v.fields.values()].filter((p): p is number => typeof p === 'number');
  return DEFAULT_PORTS[service];
}

/**
 * Every service of a host (or those in `only`): c2s and s2s STARTTLS (mod_tls), and each
 * direct-TLS service per port (ports whose answer is the same are grouped). `host` in Prosody's
 * form (nameprep'd).
 */
export function serviceLookups(host: string, facts: LookupFacts, only?: ReadonlySet<TlsService>): ServiceLookup[] {
  const out: ServiceLookup[] = [];
  const wanted = (service: TlsService) => !only || only.has(service);
  for (const service of ['c2s', 's2s'] as const) if (wanted(service)) out.push(lookupOf(service, servicePorts(service, facts), starttls(host, service, facts)));
  for (const service of DIRECT_TLS_SERVICES.filter(wanted)) {
    const ports = servicePorts(service, facts);
    // A service that does not listen still has an answer (for a probe of it); port 0 stands for "any".
    const groups = new Map<string, { ports: number[]; resolved: Resolved }>();
    for (const port of ports.length > 0 ? ports : [0]) {
      const resolved = sniContext(host, service, port, facts);
      const id = `${resolved.cert?.cert ?? ''}|${resolved.cert?.key ?? ''}|${resolved.unknown ?? ''}`;
      const group = groups.get(id) ?? { ports: [], resolved };
      if (port !== 0) group.ports.push(port);
      groups.set(id, group);
    }
    for (const { ports: p, resolved } of groups.values()) out.push(lookupOf(service, exact(p), resolved));
  }
  return exact(out);
}

function lookupOf(service: TlsService, ports: number[], resolved: Resolved): ServiceLookup {
  return { service, ports, ...(resolved.cert ? { cert: resolved.cert } : {}), ...(resolved.unknown ? { unknown: resolved.unknown } : {}) };
}

/** check.lua `check certs`: create_context(host, "server", host's or parent's `ssl`, global `ssl`). */
export function checkCertsView(host: string, facts: LookupFacts): Resolved {
  const own = rawOption(facts.config, host, 'ssl');
  const parent = parentOf(host);
  const table = own ?? rawOption(facts.config, parent, 'ssl');
  const label = own !== undefined ? `ssl of ${host}` : `ssl of ${parent}`;
  return createContext(host, findHostCert(host, facts), [{ label, table }], facts);
}
