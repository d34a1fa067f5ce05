/**
 * The certificate model shared by every source: what we know about one certificate, and the
 * outcome of reading one file (certificates, or an error with a reason code). Plain data; no I/O.
 */

/** Why a file yielded no certificate. A stable contract: metric labels and docs use these. */
export const READ_ERROR_REASONS = [
  'not_found', // missing, or a dangling symlink
  'unreadable', // permission denied or another I/O error
  'symlink_loop',
  'not_a_file', // a directory or device where a certificate file was expected
  'too_large', // over scan.maxFileSize
  'empty',
  'bad_pem', // PEM armour whose certificate block does not decode, or has no END line (truncated)
  'bad_der',
  'no_certificate', // readable, but holds no certificate (a private key alone, a CSR)
  'unsupported', // a format we do not read (PKCS#7, PKCS#12)
] as const;
export type ReadErrorReason = (typeof READ_ERROR_REASONS)[number];

export interface ReadError {
  reason: ReadErrorReason;
  message: string;
}

export type KeyType = `rsa-${number}` | `ec-${string}` | 'ed25519' | 'ed448' | 'unknown';

export interface Certificate {
  /** 0 for the first certificate in the file (the leaf), 1.. for the chain after it. */
  position: number;
  notBefore: number; // Unix seconds
  notAfter: number; // Unix seconds
  serial: string; // upper-case hex, as openssl prints it
  fingerprint: string; // SHA-256 of the DER, lower-case hex without colons
  subject: string; // RFC 4514-like one-line form, e.g. "CN=example.org"
  issuer: string;
  commonName?: string;
  /** SAN dNSName entries, lower-case. */
  dnsNames: string[];
  /** SAN otherName id-on-xmppAddr (RFC 6120 13.7.1.4) and SRVName (RFC 4985), lower-case; XMPP only. */
  xmppAddrs: string[];
  srvNames: string[];
  keyType: KeyType;
  /** SHA-256 of the SubjectPublicKeyInfo (DER), lower-case hex: what a matching private key must yield. */
  spkiSha256: string;
  /** The signature algorithm's digest as OpenSSL's security level judges it: `sha1` and `md5` are refused at level 1 and up. */
  signatureDigest: 'md5' | 'sha1' | 'other';
  selfSigned: boolean;
}

/**
 * `der`: the file is a bare DER certificate (LuaSec, and so Prosody, loads PEM only).
 * On an error, `leaf` is the first certificate when it alone could be read: what Prosody's index
 * reads (it loads only the first block), while loading the whole file for TLS fails.
 */
export type FileResult = { ok: true; certificates: Certificate[]; der?: true } | { ok: false; error: ReadError; leaf?: Certificate };

export const readError = (reason: ReadErrorReason, message: string): FileResult => ({ ok: false, error: { reason, message } });
