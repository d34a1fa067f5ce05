/**
 * Direct DNS questions to one named server (not the system resolver, which is not what the CA
 * sees): the zone a record belongs to (the closest enclosing SOA), the zone's authoritative servers
 * (its NS records, each resolved to addresses) and whether a server answers a TXT value. node:dns
 * through c-ares, a fresh Resolver per question: c-ares keeps a query cache per channel, and a
 * negative answer cached there would hide the record once it appears. It does not send updates.
 */
import dns from 'node:dns';
import net from 'node:net';

export interface DnsServer {
  host: string;
  port: number;
}

const QUESTION_TIMEOUT_MS = 2000;

export const serverText = (s: DnsServer): string => (s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);

/** The server's address (a name is looked up with the system resolver). */
export async function addressOf(server: DnsServer): Promise<DnsServer> {
  if (net.isIP(server.host)) return server;
  const { address } = await dns.promises.lookup(server.host);
  return { host: address, port: server.port };
}

function resolver(server: DnsServer): dns.promises.Resolver {
  const r = new dns.promises.Resolver({ timeout: QUESTION_TIMEOUT_MS, tries: 2 });
  r.setServers([serverText(server)]);
  return r;
}

/** `_acme-challenge.a.example.org` -> `example.org` when that is the closest name with an SOA on `server`. */
export async function zoneOf(record: string, server: DnsServer): Promise<string | undefined> {
  const labels = record.replace(/\.$/, '').split('.');
  for (let i = 1; i < labels.length; i++) {
    const candidate = labels.slice(i).join('.');
    const soa = await resolver(server)
      .resolveSoa(candidate)
      .catch((err: NodeJS.ErrnoException) => {
        if (err.code === dns.NODATA || err.code === dns.NOTFOUND) return undefined;
        throw err;
      });
    if (soa) return candidate;
  }
  return undefined;
}

/** Every address of every NS host of `zone`, asked of `server` (in-zone glue) and else the system resolver. */
export async function authoritativeServers(zone: string, server: DnsServer, port: number): Promise<DnsServer[]> {
  const hosts = await resolver(server).resolveNs(zone);
  const found: DnsServer[] = [];
  for (const host of hosts) {
    const direct = [
      ...(await resolver(server)
        .resolve4(host)
        .catch(() => [])),
      ...(await resolver(server)
        .resolve6(host)
        .catch(() => [])),
    ];
    const addresses = direct.length > 0 ? direct : (await dns.promises.lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
    if (addresses.length === 0) throw new Error(`the name server ${host} of ${zone} has no address`);
    for (const host of addresses) found.push({ host, port });
  }
  return found;
}

/** Whether `server` answers `value` among the TXT records of `name` (character-strings joined). */
export async function answersTxt(server: DnsServer, name: string, value: string): Promise<boolean> {
  const records = await resolver(server)
    .resolveTxt(name)
    .catch((err: NodeJS.ErrnoException) => {
      if (err.code === dns.NODATA || err.code === dns.NOTFOUND) return [];
      throw err;
    });
  return records.some((chunks) => chunks.join('') === value);
}
