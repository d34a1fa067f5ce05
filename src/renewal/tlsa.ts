/**
 * TLSA record data (RFC 6698, RFC 7671) for what the worker installs: `3 1 1` (DANE-EE: the SHA-256
 * of the leaf's SubjectPublicKeyInfo, which stays the same while the key is reused) and `2 1 1`
 * (DANE-TA: the SHA-256 of the SPKI of the certificate that signed the leaf, the next in the
 * chain). Values are lower-case hex, as `openssl pkey -pubout -outform DER | openssl dgst -sha256`
 * prints them. The environment names are those the reload command gets. Pure; no I/O.
 */
import crypto from 'node:crypto';
import { x509Blocks } from '../cert';

/** SHA-256 of the DER SubjectPublicKeyInfo of a key (private or public PEM) or certificate. */
export function spkiSha256(source: string | crypto.X509Certificate | crypto.KeyObject): string {
  const key = source instanceof crypto.X509Certificate ? source.publicKey : typeof source === 'string' ? crypto.createPublicKey(source) : source;
  const publicKey = key.type === 'private' ? crypto.createPublicKey(key) : key;
  return crypto
    .createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/** The certificates of a PEM chain, leaf first; blocks that do not parse are skipped. */
export function chainOf(pem: string): crypto.X509Certificate[] {
  return x509Blocks(pem).flatMap((cert) => cert ?? []);
}

export interface TlsaValues {
  /** `3 1 1` of the leaf. */
  endEntity: string;
  /** `2 1 1` of the leaf's issuer, when the chain carries it. */
  trustAnchor?: string;
}

export function tlsaOf(chainPem: string): TlsaValues | undefined {
  const [leaf, issuer] = chainOf(chainPem);
  if (!leaf) return undefined;
  return { endEntity: spkiSha256(leaf), ...(issuer ? { trustAnchor: spkiSha256(issuer) } : {}) };
}

/** For the reload command: TLSA_3_1_1, TLSA_2_1_1 and, with key reuse, TLSA_NEXT_3_1_1 (the prepared next key). */
export function tlsaEnvironment(chainPem: string, nextKeyPem?: string): Record<string, string> {
  const values = tlsaOf(chainPem);
  return {
    ...(values ? { TLSA_3_1_1: values.endEntity } : {}),
    ...(values?.trustAnchor ? { TLSA_2_1_1: values.trustAnchor } : {}),
    ...(nextKeyPem ? { TLSA_NEXT_3_1_1: spkiSha256(nextKeyPem) } : {}),
  };
}
