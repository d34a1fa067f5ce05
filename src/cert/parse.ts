/**
 * Bytes -> certificates, with node's crypto.X509Certificate (about 4x faster than @peculiar/x509).
 * Reads PEM bundles (every CERTIFICATE block, in file order) and single DER certificates.
 * Never throws: a file that holds no usable certificate becomes a ReadError with a reason code.
 * Does no I/O: callers read the bytes (and decide about size, symlinks and missing files).
 */
import { X509Certificate } from 'node:crypto';
import { readError, type Certificate, type FileResult, type KeyType } from './model';

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
  const textHead = bytes.subarray(0, 64).toString('latin1');
  if (textHead.includes('-----BEGIN ')) return parsePem(bytes.toString('latin1'), chains);
  if (bytes[0] === 0x30) return parseDer(bytes);
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
  if (certificates.length > 0) return { ok: true, certificates };
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
  return cert ? { ok: true, certificates: [cert] } : readError('bad_der', 'binary data that is not a DER certificate');
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
  return names;
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
