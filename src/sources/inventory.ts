/**
 * One scan of every source into an Inventory: the domains (prosody.cfg.lua hosts plus configured
 * ones), the certificate directory and extra globs read through the file cache, for each domain
 * the files Prosody itself would use per TLS service (discovery/cert-lookup.ts), and facts about
 * their keys. A source that fails is marked down with its error; the scan still returns what the
 * other sources found, and a prosody.cfg.lua that cannot be read keeps the host list of the last
 * good read (the domains must not vanish and resolve their alerts). Nothing is judged here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { domainToUnicode } from 'node:url';
import type { Certificate, FileResult } from '../cert';
import type { Config } from '../config';
import {
  effectiveCertsDir,
  enabledHosts,
  DIRECT_TLS_SERVICES,
  identitiesOf,
  loadProsodyConfig,
  matchingKey,
  nameprep,
  portCertificates,
  rawOption,
  serviceLookups,
  servicePorts,
  type IndexedFile,
  type LookupFacts,
  type ProsodyConfig,
} from '../discovery';
import { messageOf } from '../shared/errors';
import {
  keyFactsId,
  type DomainEntry,
  type HostCert,
  type Inventory,
  type KeyFacts,
  type PortEntry,
  type SourceState,
  type TlsService,
} from '../model/inventory';
import { CertificateFileCache, expandGlobs, listCertificateDir, type DirListing } from './files';
import { accountOf, KeyChecker, type Account } from './keys';

type Domain = Pick<DomainEntry, 'name' | 'origin' | 'prosodyName'>;

export class InventoryScanner {
  private readonly cache: CertificateFileCache;
  private readonly keyChecker = new KeyChecker();
  /** The last prosody.cfg.lua read without error: used while a newer one cannot be read. */
  private lastGoodProsody: ProsodyConfig | undefined;
  /** Warnings from the last scan (e.g. an unreadable Included file), for the log. */
  warnings: string[] = [];
  /** What the last scan's lookup was a function of (the renewal worker plans takeovers with it); undefined without a certificate directory. */
  lookupFacts: LookupFacts | undefined;

  constructor(private readonly config: Config) {
    this.cache = new CertificateFileCache(config.scan.maxFileSize);
  }

  /** Files parsed in the last scan (the others came from the cache). */
  get parsedLastTime(): number {
    return this.cache.parsedLastTime;
  }

  async scan(now: () => number = () => Date.now() / 1000): Promise<Inventory> {
    const sources: SourceState[] = [];
    this.warnings = [];
    const prosody = await this.readProsody(sources);
    const certsDir = this.certsDir(prosody);
    const listing = certsDir ? await this.listDir(certsDir, sources) : emptyListing();
    const extra = await expandGlobs(this.config.files);
    if (this.config.files.length > 0) sources.push({ name: 'files', up: true });

    const domains = this.domains(prosody);
    const paths = unique([...listing.candidates, ...extra]);
    let files = await this.cache.read(paths);
    const facts = certsDir ? lookupFacts(certsDir, listing, files, this.cache.firstLineIsCertificate, prosody, now()) : undefined;
    this.lookupFacts = facts;
    const entries: DomainEntry[] = [];
    const judged = judgedServices(prosody, facts);
    for (let i = 0; i < domains.length; i++) {
      if (i % 128 === 127) await yieldToLoop();
      entries.push(locate(domains[i]!, facts, listing, judged));
    }
    // An `ssl` table or `certificate` option can point outside the directory walk: read those too.
    const outside = entries.flatMap((e) => usedPairs(e).flatMap((p) => (files.has(p.cert) ? [] : [p.cert])));
    if (outside.length > 0) files = await this.cache.read(unique([...paths, ...outside]));
    const ports = facts && prosody ? portEntries(facts, prosody) : [];
    const keys = await this.keyFacts(entries, ports, files, prosody);
    return { scannedAt: now(), ...(certsDir ? { certsDir } : {}), domains: entries, files, keys, ports, sources };
  }

  private async readProsody(sources: SourceState[]): Promise<ProsodyConfig | undefined> {
    const file = this.config.prosody.config;
    if (!file) return undefined;
    try {
      const cfg = await loadProsodyConfig(file);
      this.warnings.push(...cfg.warnings);
      sources.push({ name: 'prosody_config', up: true });
      this.lastGoodProsody = cfg;
      return cfg;
    } catch (err) {
      const stale = this.lastGoodProsody !== undefined;
      const kept = stale ? '; keeping the hosts of the last good read until it is fixed' : '';
      sources.push({ name: 'prosody_config', up: false, error: messageOf(err) + kept, ...(stale ? { stale } : {}) });
      return this.lastGoodProsody;
    }
  }

  /** prosody.certs, else Prosody's own `certificates` option, else `certs` beside prosody.cfg.lua. */
  private certsDir(prosody: ProsodyConfig | undefined): string | undefined {
    if (this.config.prosody.certs) return this.config.prosody.certs;
    if (prosody) return effectiveCertsDir(prosody);
    return this.config.prosody.config ? path.join(path.dirname(this.config.prosody.config), 'certs') : undefined;
  }

  private async listDir(dir: string, sources: SourceState[]): Promise<DirListing> {
    try {
      const listing = await listCertificateDir(dir);
      sources.push({ name: 'certs_dir', up: true });
      for (const { dir: sub, error } of listing.unreadable)
        this.warnings.push(`cannot list ${sub}: ${error} (let the exporter's user read it, as Prosody's user can)`);
      return listing;
    } catch (err) {
      const error = `cannot list ${dir}: ${messageOf(err)} (let the exporter's user read it, or set prosody.certs to Prosody's certificate directory)`;
      sources.push({ name: 'certs_dir', up: false, error });
      return { ...emptyListing(), unreadable: [{ dir, error: messageOf(err) }] };
    }
  }

  private domains(prosody: ProsodyConfig | undefined): Domain[] {
    const seen = new Map<string, Domain>();
    for (const host of prosody ? enabledHosts(prosody) : []) seen.set(host.domain, { name: host.domain, origin: host.kind, prosodyName: host.name });
    for (const name of this.config.domains)
      if (!seen.has(name)) seen.set(name, { name, origin: 'config', prosodyName: nameprep(domainToUnicode(name) || name) });
    return [...seen.values()];
  }

  /** Key facts for every pair a domain uses, checked against the certificate's public key. */
  private async keyFacts(
    entries: DomainEntry[],
    ports: PortEntry[],
    files: Map<string, FileResult>,
    prosody: ProsodyConfig | undefined,
  ): Promise<Map<string, KeyFacts>> {
    const account = prosodyAccount(prosody);
    const keys = new Map<string, KeyFacts>();
    const pairs = [...entries.flatMap(usedPairs), ...ports.flatMap((p) => p.candidates)];
    for (let i = 0; i < pairs.length; i++) {
      if (i % 128 === 127) await yieldToLoop();
      const pair = pairs[i]!;
      const id = keyFactsId(pair.cert, pair.key);
      if (keys.has(id) || !pair.key) continue;
      keys.set(id, this.keyChecker.check(pair.key, leafOf(files.get(pair.cert))?.spkiSha256, account));
    }
    this.keyChecker.endScan();
    return keys;
  }
}

const emptyListing = (): DirListing => ({ candidates: [], indexable: [], existing: new Set(), unreadable: [] });
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
const leafOf = (r: FileResult | undefined): Certificate | undefined => (r ? (r.ok ? r.certificates[0] : r.leaf) : undefined);

/**
 * Prosody's user: `prosody_user` (default "prosody"), or root with `run_as_root = true`; undefined
 * without a prosody.cfg.lua (Prosody may run elsewhere) or when the user is unknown here.
 */
function prosodyAccount(prosody: ProsodyConfig | undefined): Account | undefined {
  if (!prosody) return undefined;
  if (rawOption(prosody, '*', 'run_as_root') === true) return { name: 'root', uid: 0, gids: new Set([0]) };
  const user = rawOption(prosody, '*', 'prosody_user');
  return accountOf(typeof user === 'string' ? user : 'prosody');
}

/**
 * What Prosody's index_certs would index: the walk's indexable files whose first line is exactly the
 * BEGIN CERTIFICATE line, whose key (find_matching_key) exists, and whose first certificate is valid now.
 */
function lookupFacts(
  certsDir: string,
  listing: DirListing,
  files: Map<string, FileResult>,
  firstLine: ReadonlySet<string>,
  prosody: ProsodyConfig | undefined,
  now: number,
): LookupFacts {
  const indexed: IndexedFile[] = [];
  const pending: IndexedFile[] = [];
  for (const file of listing.indexable) {
    const leaf = leafOf(files.get(file));
    if (!leaf || !firstLine.has(file) || !listing.existing.has(matchingKey(file))) continue;
    if (leaf.notAfter <= now) continue;
    (leaf.notBefore > now ? pending : indexed).push({ file, names: identitiesOf(leaf) });
  }
  // An option may point outside the walked directory: ask the file system then.
  const inside = certsDir.endsWith(path.sep) ? certsDir : certsDir + path.sep;
  const isFile = (p: string) => listing.existing.has(p) || (!p.startsWith(inside) && isFileOutside(p));
  return { certsDir, isFile, indexed, pending, ...(prosody ? { config: prosody } : { configDir: path.dirname(certsDir) }) };
}

/** The main service: c2s STARTTLS for a VirtualHost or configured domain, s2s for a Component. */
const MAIN_SERVICE: Record<DomainEntry['origin'], TlsService> = { VirtualHost: 'c2s', config: 'c2s', Component: 's2s' };

function locate(
  domain: Domain,
  facts: LookupFacts | undefined,
  listing: DirListing,
  judged: Record<'host' | 'component', ReadonlySet<TlsService>>,
): DomainEntry {
  if (!facts) return domain;
  const services = serviceLookups(domain.prosodyName ?? domain.name, facts, domain.origin === 'Component' ? judged.component : judged.host);
  const main = services.find((s) => s.service === MAIN_SERVICE[domain.origin]);
  const hidden = listing.unreadable.length > 0 && !main?.cert;
  const lookupError = hidden
    ? `no certificate found for ${domain.name}, but ${listing.unreadable.map((u) => u.dir).join(', ')} could not be listed (${listing.unreadable[0]!.error}): ` +
      `Prosody may find one there; let the exporter's user read it`
    : undefined;
  // Starts with a property, not `...domain`: a shared hidden class per shape (evaluate/report.ts).
  return {
    name: domain.name,
    origin: domain.origin,
    prosodyName: domain.prosodyName,
    ...(main?.cert ? { served: main.cert } : {}),
    services,
    ...(lookupError ? { lookupError } : {}),
  };
}

const HTTP_MODULES = /^(http|bosh|websocket|admin_web|conversejs|register_web|invites_page)/;

/**
 * Which services domains are judged on: c2s (not for a Component, to which clients never connect)
 * and s2s STARTTLS, and the direct-TLS services that listen; every host gets an SNI context on
 * each (portmanager add_sni_host). Without a prosody.cfg.lua, STARTTLS only.
 */
function judgedServices(prosody: ProsodyConfig | undefined, facts: LookupFacts | undefined): Record<'host' | 'component', ReadonlySet<TlsService>> {
  const direct = prosody && facts ? DIRECT_TLS_SERVICES.filter((s) => servicePorts(s, facts).length > 0 && (s !== 'https' || httpsListens(prosody))) : [];
  return {
    host: new Set<TlsService>(['c2s', 's2s', ...direct]),
    component: new Set<TlsService>(['s2s', ...direct.filter((s) => s !== 'c2s_direct_tls' && s !== 'legacy_ssl')]),
  };
}

/** mod_http opens https (`https_ports`, default 5281) once any enabled host or Component loads an HTTP module. */
function httpsListens(prosody: ProsodyConfig | undefined): boolean {
  if (!prosody) return false;
  return rawOption(prosody, '*', 'https_ports') !== undefined || prosody.hosts.some((h) => h.enabled && usesHttp(prosody, h.name));
}

function usesHttp(prosody: ProsodyConfig, host: string): boolean {
  const host_ = prosody.byName.get(host);
  if (host_?.module && HTTP_MODULES.test(host_.module)) return true;
  return [rawOption(prosody, '*', 'modules_enabled'), host_?.options.get('modules_enabled')].some(
    (v) => typeof v === 'object' && v.kind === 'table' && [...v.fields.values()].some((m) => typeof m === 'string' && HTTP_MODULES.test(m)),
  );
}

/** The direct-TLS ports that listen (as `listens` decides for hosts), each with what its own context may load. */
function portEntries(facts: LookupFacts, prosody: ProsodyConfig): PortEntry[] {
  const http = httpsListens(prosody);
  const out: PortEntry[] = [];
  for (const service of DIRECT_TLS_SERVICES) {
    if (service === 'https' && !http) continue;
    for (const port of servicePorts(service, facts)) out.push({ service, port, ...portCertificates(service, port, facts) });
  }
  return out;
}

/** Every (certificate, key) pair a domain may be served with, alternatives included. */
export function usedPairs(entry: DomainEntry): Array<{ cert: string; key: string }> {
  const certs: HostCert[] = [];
  if (entry.served) certs.push(entry.served);
  for (const s of entry.services ?? []) if (s.cert) certs.push(s.cert);
  const pairs = certs.flatMap((c) => [{ cert: c.cert, key: c.key }, ...(c.alternatives ?? [])]);
  const seen = new Set<string>();
  return pairs.filter((p) => !seen.has(keyFactsId(p.cert, p.key)) && seen.add(keyFactsId(p.cert, p.key)));
}

function isFileOutside(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false; // missing, a loop, no permission: Prosody could not use it either
  }
}

const unique = (paths: string[]) => [...new Set(paths)];
