/**
 * Bytes -> certificates, with node's crypto.X509Certificate (about 4x faster than @peculiar/x509).
 * Reads PEM bundles (every CERTIFICATE block, in file order, after any text of any length before
 * the first -----BEGIN line, as OpenSSL's PEM reader skips it) and single DER certificates.
 * A BEGIN CERTIFICATE line without its END line makes the whole file bad_pem (OpenSSL refuses it),
 * with the leaf kept when it alone decodes.
 * Never throws: a file that holds no usable certificate becomes a ReadError with a reason code.
 * Does no I/O: callers read the bytes (and decide about size, symlinks and missing files).
 */
import { X509Certificate, createHash } from 'node:crypto';
import { bytesOf, children, tlv, type Tlv } from './der';
import { readError, type Certificate, type FileResult, type KeyType } from './model';
import { exact } from '../shared/exact';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const CERT_LABELS = new Set(['CERTIFICATE', 'TRUSTED CERTIFICATE', 'X509 CERTIFICATE']);
const UNSUPPORTED_LABELS = new Set(['PKCS7', 'CMS', 'PKCS12']);

/**
 * Chain certificates already parsed, by their base64 body. Every fullchain.pem of one CA carries
 * the same intermediates, so a directory of N lineages parses them once, not N times. Leaves are
 * not kept (each is unique). Call nextGeneration() once per scan: entries unseen for a whole scan
 * are dropped, which bounds the cache to the chains currently on disk.
 */
export class ChainCache {
  private current = new Map<string, Certificate>();
  private previous = new Map<string, Certificate>();

  nextGeneration(): void {
    this.previous = this.current;
    this.current = new Map();
  }

  get(body: string): Certificate | undefined {
    const known = this.current.get(body) ?? this.previous.get(body);
    if (known) this.current.set(body, known);
    return known;
  }

  set(body: string, cert: Certificate): void {
    this.current.set(body, cert);
  }
}

export function parseCertificates(bytes: Buffer, chains?: ChainCache): FileResult {
  if (bytes.length === 0) return readError('empty', 'the file is empty');
  if (bytes[0] === 0x30 && bytes.indexOf('-----BEGIN ') < 0) return parseDer(bytes);
  if (bytes.indexOf('-----BEGIN ') >= 0) return parsePem(bytes.toString('latin1'), chains);
  if (/^\s*$/.test(bytes.toString('latin1'))) return readError('empty', 'the file holds only white space');
  return readError('bad_pem', 'neither PEM (no -----BEGIN line) nor DER');
}

function parsePem(text: string, chains: ChainCache | undefined): FileResult {
  const certificates: Certificate[] = [];
  const others: string[] = [];
  for (const [, label, body] of text.matchAll(PEM_BLOCK)) {
    if (!CERT_LABELS.has(label!)) {
      others.push(label!);
      continue;
    }
    const cert = certificateOf(body!, certificates.length, chains);
    if (!cert) return readError('bad_pem', `certificate block ${certificates.length + 1} does not decode (truncated or corrupt)`);
    certificates.push(cert);
  }
  const begun = text.split('-----BEGIN CERTIFICATE-----').length - 1;
  const ended = text.split('-----END CERTIFICATE-----').length - 1;
  if (begun > ended) {
    const error = {
      reason: 'bad_pem' as const,
      message: `certificate block ${ended + 1} has no -----END CERTIFICATE----- line (truncated?); OpenSSL, and so Prosody, refuses the whole file`,
    };
    return certificates.length > 0 ? { ok: false, error, leaf: certificates[0]! } : { ok: false, error };
  }
  if (certificates.length > 0) return { ok: true, certificates: exact(certificates) };
  if (others.some((label) => UNSUPPORTED_LABELS.has(label))) {
    return readError('unsupported', `${others.join(', ')} is not read; convert it with \`openssl pkcs7 -print_certs\``);
  }
  if (others.length > 0) return readError('no_certificate', `holds ${others.join(', ')} but no CERTIFICATE`);
  return readError('bad_pem', 'a -----BEGIN line without a matching -----END (truncated?)');
}

function certificateOf(body: string, position: number, chains: ChainCache | undefined): Certificate | undefined {
  const known = position > 0 ? chains?.get(body) : undefined;
  if (known) return { ...known, position };
  const cert = toCertificate(Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'), position);
  if (cert && position > 0) chains?.set(body, cert);
  return cert;
}

function parseDer(der: Buffer): FileResult {
  const cert = toCertificate(der, 0);
  return cert ? { ok: true, certificates: [cert], der: true } : readError('bad_der', 'binary data that is not a DER certificate');
}

function toCertificate(der: Buffer, position: number): Certificate | undefined {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch {
    return undefined;
  }
  return certificateFromX509(x509, position);
}

/** Our model of a certificate node has already parsed (e.g. the one a TLS peer presented). */
export function certificateFromX509(x509: X509Certificate, position: number): Certificate {
  // Each getter below is a native call that formats anew: read each once (a probe reads a chain per endpoint).
  const subject = x509.subject;
  const issuer = x509.issuer;
  const san = x509.subjectAltName;
  const commonName = /^CN=(.*)$/m.exec(subject)?.[1];
  return {
    position,
    notBefore: Date.parse(x509.validFrom) / 1000,
    notAfter: Date.parse(x509.validTo) / 1000,
    serial: x509.serialNumber.toUpperCase(),
    fingerprint: x509.fingerprint256.replace(/:/g, '').toLowerCase(),
    subject: oneLine(subject),
    issuer: oneLine(issuer),
    ...(commonName ? { commonName } : {}),
    dnsNames: sanValues(san, 'DNS'),
    xmppAddrs: sanValues(san, 'othername:XmppAddr'),
    srvNames: sanValues(san, 'othername:SRVName'),
    keyType: keyType(x509),
    ...derFacts(x509),

    // Not checkIssued(): it also demands keyCertSign, which a self-signed server certificate lacks.
    selfSigned: subject === issuer && verifiesItself(x509),
  };
}

/** node prints "CN=a\nO=b"; metrics and JSON want one line. */
const oneLine = (dn: string) => dn.split('\n').filter(Boolean).join(', ');

/**
 * node joins SANs as `DNS:a, othername:XmppAddr:b, othername:SRVName:_xmpp-client.c, IP Address:...`;
 * values with separators are JSON-quoted.
 */
const SAN_PATTERNS = new Map<string, RegExp>();
function sanValues(san: string | undefined, kind: string): string[] {
  if (!san || !san.includes(kind)) return [];
  const names: string[] = [];
  let pattern = SAN_PATTERNS.get(kind);
  if (!pattern) SAN_PATTERNS.set(kind, (pattern = new RegExp(`(?:^|, )${kind}:(?:("(?:[^"\\\\]|\\\\.)*")|([^,]*))`, 'g')));
  for (const [, quoted, plain] of san.matchAll(pattern)) {
    const name = quoted ? (JSON.parse(quoted) as string) : plain!;
    names.push(name.trim().toLowerCase());
  }
  return exact(names);
}

function keyType(x509: X509Certificate): KeyType {
  const key = x509.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `rsa-${details.modulusLength ?? 0}`;
    case 'ec':
      return `ec-${details.namedCurve ?? 'unknown'}`;
    case 'ed25519':
    case 'ed448':
      return key.asymmetricKeyType;
    default:
      return 'unknown';
  }
}

function verifiesItself(x509: X509Certificate): boolean {
  try {
    return x509.verify(x509.publicKey);
  } catch {
    return false;
  }
}

const SHA1_OIDS = new Set(['2a864886f70d010105', '2a8648ce3d0401', '2a8648ce380403', '2b0e03021d']);
const MD5_OIDS = new Set(['2a864886f70d010104', '2a864886f70d010103']);

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }. */
function certificateParts(der: Buffer): { tbs: Tlv[]; sigAlg: Tlv } | undefined {
  const outer = tlv(der, 0);
  const parts = outer && children(der, outer);
  const tbs = parts?.[0] && children(der, parts[0]);
  return tbs && parts[1] ? { tbs, sigAlg: parts[1] } : undefined;
}

/**
 * From the DER (x509.raw copies it: read once): the SHA-256 of the SubjectPublicKeyInfo as written
 * (tbs: [0] version?, serial, signature, issuer, validity, subject, spki) and the signature's digest.
 */
function derFacts(x509: X509Certificate): Pick<Certificate, 'spkiSha256' | 'signatureDigest'> {
  const der = x509.raw;
  const parts = certificateParts(der);
  const at = parts && (parts.tbs[0]!.tag === 0xa0 ? 6 : 5);
  const spki = parts && at !== undefined ? parts.tbs[at] : undefined;
  const bytes = spki ? bytesOf(der, spki) : x509.publicKey.export({ type: 'spki', format: 'der' });
  const oid = parts && tlv(der, parts.sigAlg.body);
  const hex = oid?.tag === 0x06 ? der.subarray(oid.body, oid.end).toString('hex') : '';
  return {
    spkiSha256: createHash('sha256').update(bytes).digest('hex'),
    signatureDigest: SHA1_OIDS.has(hex) ? 'sha1' : MD5_OIDS.has(hex) ? 'md5' : 'other',
  };
}
