/**
 * What an endpoint's host name stands for: all its addresses (A and AAAA, so each is probed on
 * its own) and its TLSA records at `_PORT._tcp.HOST` (RFC 7673 3: the SRV target and port, which
 * is what a DANE-validating XMPP peer looks up). With `probes.dns.servers` set, every question goes
 * to those servers (dns.ts); without, addresses come from the system's resolver (getaddrinfo,
 * which reads /etc/hosts as a client would) and TLSA from resolv.conf's servers.
 *
 * It does not probe, judge TLSA against a chain (evaluate does), or cache across calls; callers
 * resolve each host once per round. Never throws.
 */
import { promises as nodeDns } from 'node:dns';
import net from 'node:net';
import type { TlsaLookup, TlsaRecord } from '../model/probe';
import { messageOf } from '../shared/errors';
import { query } from './dns';

export interface ResolveConfig {
  servers: readonly string[];
  timeoutMs: number;
  /** Address families probed (`probes.ipVersions`). */
  ipVersions: ReadonlyArray<4 | 6>;
}

export type Addresses = { ok: true; addresses: string[] } | { ok: false; reason: 'dns'; message: string };

/** Every address of `host` in the wanted families, IPv6 first as RFC 6724 prefers; an IP address stands for itself. */
export async function resolveAddresses(host: string, config: ResolveConfig): Promise<Addresses> {
  if (net.isIP(host)) return { ok: true, addresses: [host] };
  const families = ([6, 4] as const).filter((v) => config.ipVersions.includes(v));
  const found = config.servers.length > 0 ? await fromServers(host, families, config) : await fromSystem(host, families);
  if (!found.ok) return found;
  if (found.addresses.length === 0) {
    const kinds = families.map((v) => (v === 6 ? 'AAAA' : 'A')).join(' or ');
    return { ok: false, reason: 'dns', message: `${host} has no ${kinds} record` };
  }
  return found;
}

async function fromServers(host: string, families: ReadonlyArray<4 | 6>, config: ResolveConfig): Promise<Addresses> {
  const answers = await Promise.all(families.map((v) => query(host, v === 6 ? 'AAAA' : 'A', config)));
  const failed = answers.find((a) => !a.ok);
  // One family failing is not "no address": probe what the other gave, unless it gave none.
  const addresses = answers.flatMap((a) => (a.ok ? a.answers.flatMap((r) => (r.type === 'A' || r.type === 'AAAA' ? [r.data] : [])) : []));
  if (failed && !failed.ok && addresses.length === 0) return { ok: false, reason: 'dns', message: `${host}: ${failed.message}` };
  return { ok: true, addresses: [...new Set(addresses)] };
}

async function fromSystem(host: string, families: ReadonlyArray<4 | 6>): Promise<Addresses> {
  try {
    const all = await nodeDns.lookup(host, { all: true, family: families.length === 1 ? families[0] : 0 });
    const addresses = all.filter((a) => families.includes(a.family as 4 | 6)).sort((a, b) => b.family - a.family);
    return { ok: true, addresses: [...new Set(addresses.map((a) => a.address))] };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return { ok: true, addresses: [] };
    return { ok: false, reason: 'dns', message: `${host}: ${messageOf(err)}` };
  }
}

/** The TLSA records of `_PORT._tcp.HOST`; undefined when the host is an IP address (no name to look up). */
export async function lookupTlsa(host: string, port: number, config: Omit<ResolveConfig, 'ipVersions'>): Promise<TlsaLookup | undefined> {
  if (net.isIP(host)) return undefined;
  const name = `_${port}._tcp.${host}`;
  const answer = await query(name, 'TLSA', config);
  if (!answer.ok) return { ok: false, name, reason: answer.reason, message: answer.message };
  const records: TlsaRecord[] = answer.answers.flatMap((a) =>
    a.type === 'TLSA' ? [{ usage: a.data.usage, selector: a.data.selector, matchingType: a.data.matchingType, data: a.data.certificate.toString('hex') }] : [],
  );
  return { ok: true, name, records, authenticated: answer.authenticated };
}
