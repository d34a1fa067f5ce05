/**
 * DANE (RFC 6698, RFC 7671) for a served chain: does one TLSA record match it? Only the usages a
 * peer without PKIX applies, as RFC 7673 4 and RFC 7672 3.1.3 use them: DANE-TA(2), a certificate
 * of the chain that is its trust anchor (the chain from the leaf up to it must verify, and the
 * caller checks the name), and DANE-EE(3), the leaf itself (no name or expiry check, RFC 7671 5.1).
 * Selectors: 0 the whole certificate, 1 its SubjectPublicKeyInfo. Matching types: 0 exact,
 * 1 SHA-256, 2 SHA-512. PKIX-TA(0) and PKIX-EE(1), and any other value, are not usable here.
 * Pure: a function of DER bytes.
 */
import { X509Certificate, createHash } from 'node:crypto';

export interface TlsaAssociation {
  usage: number;
  selector: number;
  matchingType: number;
  /** The association data, hex. */
  data: string;
}

export const isUsableTlsa = (r: TlsaAssociation): boolean => (r.usage === 2 || r.usage === 3) && (r.selector === 0 || r.selector === 1) && r.matchingType <= 2;

/** Whether `record` matches the certificate `der` (selector and matching type only; not the usage). */
export function tlsaMatchesCertificate(record: TlsaAssociation, der: Buffer): boolean {
  try {
    return digestOf(record, der) === record.data.toLowerCase();
  } catch {
    return false; // a certificate node cannot read matches nothing
  }
}

function digestOf(record: TlsaAssociation, der: Buffer): string {
  const selected = record.selector === 1 ? new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' }) : der;
  const digest =
    record.matchingType === 1
      ? createHash('sha256').update(selected).digest()
      : record.matchingType === 2
        ? createHash('sha512').update(selected).digest()
        : selected;
  return digest.toString('hex');
}

/**
 * Whether a usable record matches the chain (DER, leaf first) served with `nameCovered`:
 * DANE-EE on the leaf; DANE-TA on a certificate of the chain that the leaf chains up to.
 */
export function daneMatch(record: TlsaAssociation, chain: readonly Buffer[], nameCovered: boolean): boolean {
  if (!isUsableTlsa(record) || chain.length === 0) return false;
  if (record.usage === 3) return tlsaMatchesCertificate(record, chain[0]!);
  if (!nameCovered) return false;
  const anchor = chain.findIndex((der) => tlsaMatchesCertificate(record, der));
  return anchor >= 0 && chainsUpTo(chain, anchor);
}

/** Each certificate up to `anchor` is issued and signed by the next one. */
function chainsUpTo(chain: readonly Buffer[], anchor: number): boolean {
  try {
    const certs = chain.slice(0, anchor + 1).map((der) => new X509Certificate(der));
    return certs.slice(0, -1).every((cert, i) => cert.checkIssued(certs[i + 1]!) && cert.verify(certs[i + 1]!.publicKey));
  } catch {
    return false;
  }
}
