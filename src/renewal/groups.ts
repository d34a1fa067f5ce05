/**
 * Certificate groups: which names share one certificate. By default one per VirtualHost (or
 * configured domain) with the Components below it (conference.example.org goes with example.org);
 * a Component below no host gets its own. `renewal.certificates` replaces this entirely.
 * Pure; no I/O.
 */
import type { DomainEntry } from '../model/inventory';
import { ConfigError } from '../shared/errors';
import type { CertificateGroup } from './types';

export function certificateGroups(domains: readonly DomainEntry[], configured?: readonly CertificateGroup[]): CertificateGroup[] {
  // A configured name is the directory only; the certificate holds exactly `domains`.
  if (configured) return configured.map((g) => ({ name: g.name, domains: unique([...g.domains]) }));
  const hosts = domains.filter((d) => d.origin !== 'Component').map((d) => d.name);
  const groups = new Map<string, string[]>(hosts.map((h) => [h, [h]]));
  for (const component of domains.filter((d) => d.origin === 'Component')) {
    if (groups.has(component.name)) continue;
    const parent = closestParent(component.name, hosts);
    if (parent) groups.get(parent)!.push(component.name);
    else groups.set(component.name, [component.name]);
  }
  return [...groups].map(([name, names]) => ({ name, domains: unique(names) }));
}

/** The longest host that `name` is a subdomain of: a.b.example.org joins b.example.org before example.org. */
function closestParent(name: string, hosts: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const host of hosts) if (name.endsWith(`.${host}`) && (!best || host.length > best.length)) best = host;
  return best;
}

/**
 * The watched group that holds `domain` (by its name or one of its names). A name no group holds is
 * refused, listing the groups: renewing it would order a certificate nothing serves.
 */
export function watchedGroup(domain: string, groups: readonly CertificateGroup[], verb = 'renew'): CertificateGroup {
  const group = groups.find((g) => g.name === domain) ?? groups.find((g) => g.domains.includes(domain));
  if (group) return group;
  const listed = groups.map((g) => (g.domains.length > 1 || g.domains[0] !== g.name ? `${g.name} (${g.domains.join(', ')})` : g.name));
  throw new ConfigError(
    `${verb}: no watched certificate group holds "${domain}"; ${listed.length > 0 ? `the groups are: ${listed.join('; ')}` : 'no group is watched (check prosody.config, domains and renewal.certificates)'}. Watch it first: add it to prosody.cfg.lua, domains or renewal.certificates`,
  );
}

/** The group that holds `domain`, or a new one-name group. */
export function groupFor(domain: string, groups: readonly CertificateGroup[]): CertificateGroup {
  return groups.find((g) => g.name === domain) ?? groups.find((g) => g.domains.includes(domain)) ?? { name: domain, domains: [domain] };
}

const unique = (names: string[]) => [...new Set(names)];
