/**
 * What Prosody uses for the names of a certificate group, as the exporter's lookup answers it
 * (discovery/cert-lookup.ts, on the facts of the worker's last scan): per name, every TLS service
 * Prosody listens on, with the file and key it would load and any other file it may pick instead
 * (an ambiguous index). The renewer reads the group's current pair from it (current.ts) and plans
 * a takeover with it (takeover.ts). A view is one scan's answer; `ProsodyLookup.refresh` scans
 * again when files it named have gone (another worker took the group over meanwhile). No I/O here.
 */
import { domainToUnicode } from 'node:url';
import { nameprep, serviceLookups, type LookupFacts } from '../discovery';
import type { DomainEntry, HostCert, Inventory, ServiceLookup, TlsService } from '../model/inventory';

/** The services a name is judged on when the scan did not watch it: STARTTLS, as Prosody always offers it. */
const STARTTLS: ReadonlySet<TlsService> = new Set(['c2s', 's2s']);

export interface NameLookup {
  /** A-label form, as the group lists it. */
  domain: string;
  /** As Prosody has it (nameprep'd, U-label). */
  prosodyName: string;
  /** The main file: c2s STARTTLS for a VirtualHost or configured name, s2s for a Component. */
  main?: HostCert;
  services: ServiceLookup[];
}

export class ProsodyView {
  private readonly byName: Map<string, DomainEntry>;
  private carriers: Map<string, string[]> | undefined;

  constructor(
    readonly inventory: Inventory,
    readonly facts: LookupFacts,
  ) {
    this.byName = new Map(inventory.domains.map((d) => [d.name, d]));
  }

  get certsDir(): string {
    return this.facts.certsDir;
  }

  /** One name of a group: the scan's answer, or (a name the scan did not watch) the lookup's for STARTTLS. */
  lookup(domain: string): NameLookup {
    const entry = this.byName.get(domain);
    const prosodyName = prosodyNameOf(domain, entry);
    if (entry?.services) return { domain, prosodyName, ...(entry.served ? { main: entry.served } : {}), services: entry.services };
    const services = serviceLookups(prosodyName, this.facts, STARTTLS);
    const main = services.find((s) => s.service === 'c2s')?.cert;
    return { domain, prosodyName, ...(main ? { main } : {}), services };
  }

  /**
   * The files Prosody indexes, now or once valid, that carry `name` (in Prosody's form) among their
   * identities, xmppAddr ones too (index_certs puts each in the name's bucket, find_cert_in_index
   * may take any). Built once per view: planning a takeover per group stays linear.
   */
  filesCarrying(name: string): readonly string[] {
    if (!this.carriers) {
      this.carriers = new Map();
      for (const f of [...this.facts.indexed, ...(this.facts.pending ?? [])]) {
        for (const n of new Set(f.names.map((i) => i.name))) this.carriers.set(n, [...(this.carriers.get(n) ?? []), f.file]);
      }
    }
    return this.carriers.get(name) ?? [];
  }

  /** The services a name is judged on (those Prosody listens on for it). */
  servicesOf(domain: string): ReadonlySet<TlsService> {
    const entry = this.byName.get(domain);
    return entry?.services ? new Set(entry.services.map((s) => s.service)) : STARTTLS;
  }
}

export function prosodyNameOf(domain: string, entry?: Pick<DomainEntry, 'prosodyName'>): string {
  return entry?.prosodyName ?? nameprep(domainToUnicode(domain) || domain);
}

/** Where the renewer gets its view: the worker's last scan, and a fresh scan when that one is stale. */
export interface ProsodyLookup {
  view(): ProsodyView;
  refresh(): Promise<ProsodyView>;
}

/** Every (certificate, key) a HostCert may load: the file and, for an ambiguous index, the others. */
export function pairsOf(cert: HostCert): Array<{ cert: string; key: string }> {
  return [{ cert: cert.cert, key: cert.key }, ...(cert.alternatives ?? [])];
}
