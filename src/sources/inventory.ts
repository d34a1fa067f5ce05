/**
 * One scan of every source into an Inventory: the domains (prosody.cfg.lua hosts plus configured
 * ones), the certificate directory and extra globs read through the file cache, and for each
 * domain the file Prosody itself would use. A source that fails is marked down with its error;
 * the scan still returns what the other sources found. Nothing is judged here.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FileResult } from '../cert';
import type { Config } from '../config';
import { certificateOption, effectiveCertsDir, enabledHosts, findHostCert, loadProsodyConfig, type LookupFacts, type ProsodyConfig } from '../discovery';
import { messageOf } from '../shared/errors';
import { CertificateFileCache, expandGlobs, listCertificateDir, type DirListing } from './files';
import type { DomainEntry, Inventory, SourceState } from '../model/inventory';

export class InventoryScanner {
  private readonly cache: CertificateFileCache;
  /** Warnings from the last scan (e.g. an unreadable Included file), for the log. */
  warnings: string[] = [];

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
    const listing = certsDir ? await this.listDir(certsDir, sources) : { candidates: [], existing: new Set<string>() };
    const extra = await expandGlobs(this.config.files);
    if (this.config.files.length > 0) sources.push({ name: 'files', up: true });

    const domains = this.domains(prosody);
    const paths = unique([...listing.candidates, ...extra]);
    let files = await this.cache.read(paths);
    const facts = certsDir ? lookupFacts(certsDir, listing, files, prosody, now()) : undefined;
    const entries = domains.map((d) => locate(d, facts));
    // A host's own `certificate` path can lie outside the directory walk: read those too.
    const outside = entries.flatMap((e) => (e.served && !files.has(e.served.cert) ? [e.served.cert] : []));
    if (outside.length > 0) files = await this.cache.read(unique([...paths, ...outside]));
    return { scannedAt: now(), ...(certsDir ? { certsDir } : {}), domains: entries, files, sources };
  }

  private async readProsody(sources: SourceState[]): Promise<ProsodyConfig | undefined> {
    const file = this.config.prosody.config;
    if (!file) return undefined;
    try {
      const cfg = await loadProsodyConfig(file);
      this.warnings.push(...cfg.warnings);
      sources.push({ name: 'prosody_config', up: true });
      return cfg;
    } catch (err) {
      sources.push({ name: 'prosody_config', up: false, error: messageOf(err) });
      return undefined;
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
      return listing;
    } catch (err) {
      sources.push({ name: 'certs_dir', up: false, error: `cannot list ${dir}: ${messageOf(err)} (set prosody.certs to Prosody's certificate directory)` });
      return { candidates: [], existing: new Set() };
    }
  }

  private domains(prosody: ProsodyConfig | undefined): Array<Pick<DomainEntry, 'name' | 'origin'>> {
    const seen = new Map<string, DomainEntry['origin']>();
    for (const host of prosody ? enabledHosts(prosody) : []) seen.set(host.name, host.kind);
    for (const name of this.config.domains) if (!seen.has(name)) seen.set(name, 'config');
    return [...seen].map(([name, origin]) => ({ name, origin }));
  }
}

/**
 * What Prosody's lookup needs to know about the directory. Its index holds certificates valid now,
 * under their SAN dNSNames and subject CN (the file-name and key rules are applied by findHostCert).
 */
function lookupFacts(certsDir: string, listing: DirListing, files: Map<string, FileResult>, prosody: ProsodyConfig | undefined, now: number): LookupFacts {
  const certNames = new Map<string, readonly string[]>();
  for (const [file, result] of files) {
    const leaf = result.ok ? result.certificates[0]! : undefined;
    if (!leaf || leaf.notBefore > now || leaf.notAfter <= now) continue;
    certNames.set(file, leaf.commonName ? [...leaf.dnsNames, leaf.commonName.toLowerCase()] : leaf.dnsNames);
  }
  // A host's `certificate` option may point outside the walked directory: ask the file system then.
  const inside = certsDir.endsWith(path.sep) ? certsDir : certsDir + path.sep;
  const isFile = (p: string) => listing.existing.has(p) || (!p.startsWith(inside) && isFileOutside(p));
  const facts: LookupFacts = { certsDir, isFile, certNames };
  if (prosody) facts.certificateFor = (name) => certificateOption(prosody, name);
  return facts;
}

function locate(domain: Pick<DomainEntry, 'name' | 'origin'>, facts: LookupFacts | undefined): DomainEntry {
  const served = facts && findHostCert(domain.name, facts);
  return served ? { ...domain, served } : domain;
}

function isFileOutside(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false; // missing, a loop, no permission: Prosody could not use it either
  }
}

const unique = (paths: string[]) => [...new Set(paths)];
