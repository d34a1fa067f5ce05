/**
 * RFC 6125 name matching for a DNS domain against a certificate's identifiers: SAN dNSName entries,
 * with a wildcard only as the whole left-most label (`*.example.org` covers `a.example.org`, not
 * `example.org` nor `a.b.example.org`). The subject CN is consulted only when the certificate has
 * no dNSName at all, as RFC 6125 6.4.4 allows. Pure.
 */
import type { Certificate } from './model';

const normalise = (name: string) => name.trim().toLowerCase().replace(/\.$/, '');

export function coversName(pattern: string, domain: string): boolean {
  const p = normalise(pattern);
  const d = normalise(domain);
  if (p === d) return true;
  if (!p.startsWith('*.')) return false;
  const dot = d.indexOf('.');
  // The wildcard stands for exactly one non-empty label, and never for a public suffix alone.
  return dot > 0 && d.slice(dot + 1) === p.slice(2) && p.slice(2).includes('.');
}

/** The identifier that covers `domain`, or undefined. */
export function nameCoverage(cert: Pick<Certificate, 'dnsNames' | 'commonName'>, domain: string): string | undefined {
  const names = cert.dnsNames.length > 0 ? cert.dnsNames : cert.commonName ? [cert.commonName] : [];
  return names.find((name) => coversName(name, domain));
}

/** Which kind of XMPP service a name is checked for: the SRV-ID differs (RFC 6120 13.7.1.2.1). */
export type XmppService = 'c2s' | 's2s' | 'https';

/**
 * RFC 6120 13.7.2.1 for a served certificate: a DNS-ID (RFC 6125 rules above), an SRV-ID
 * (`_xmpp-client.DOMAIN` for c2s, `_xmpp-server.DOMAIN` for s2s; no wildcards) or an XmppAddr
 * equal to the domain. Returns how it matched, or undefined.
 */
export function xmppNameMatch(
  cert: Pick<Certificate, 'dnsNames' | 'commonName' | 'xmppAddrs' | 'srvNames'>,
  domain: string,
  service: XmppService,
): string | undefined {
  const dns = nameCoverage(cert, domain);
  if (dns) return `DNS:${dns}`;
  const d = normalise(domain);
  const srvId = service === 'c2s' ? `_xmpp-client.${d}` : service === 's2s' ? `_xmpp-server.${d}` : undefined;
  if (srvId && cert.srvNames.includes(srvId)) return `SRVName:${srvId}`;
  if (service !== 'https' && cert.xmppAddrs.includes(d)) return `XmppAddr:${d}`;
  return undefined;
}
