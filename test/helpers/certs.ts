/**
 * Certificates minted at test time with @peculiar/x509: a test CA, leaves signed by it or
 * self-signed, with notBefore/notAfter relative to now. Keys are reused per algorithm so a test
 * that mints hundreds stays fast (the key is not what these tests are about).
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(crypto.webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
type Keys = crypto.webcrypto.CryptoKeyPair;

let sharedKeys: Promise<Keys> | undefined;
const keys = () => (sharedKeys ??= crypto.webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']));

export interface TestCA {
  cert: x509.X509Certificate;
  keys: Keys;
  pem: string;
}

export interface MintOptions {
  names: string[];
  /** Seconds relative to now. */
  notBefore?: number;
  notAfter: number;
  issuer?: TestCA;
  /** Subject CN; defaults to the first name. */
  cn?: string;
  /** A key of its own instead of the shared one (a renewal with a new key, as DANE 3 1 1 notices). */
  freshKey?: boolean;
}

export interface Minted {
  pem: string;
  der: Buffer;
  keyPem: string;
  notAfter: Date;
  cert: x509.X509Certificate;
}

const serial = () => '01' + crypto.randomBytes(8).toString('hex');

export async function makeCA(name = 'Test CA', lifetimeDays = 3650): Promise<TestCA> {
  const caKeys = await crypto.webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 86400_000),
    notAfter: new Date(now + lifetimeDays * 86400_000),
    signingAlgorithm: ALG,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys: caKeys, pem: cert.toString('pem') + '\n' };
}

/** An intermediate CA signed by `root`, expiring `notAfter` seconds from now: for chains. */
export async function makeIntermediate(root: TestCA, name: string, notAfter: number): Promise<TestCA> {
  const caKeys = await crypto.webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${name}`,
    issuer: root.cert.subject,
    notBefore: new Date(now - 30 * 86400_000),
    notAfter: new Date(Math.floor((now + notAfter * 1000) / 1000) * 1000),
    signingAlgorithm: ALG,
    publicKey: caKeys.publicKey,
    signingKey: root.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys: caKeys, pem: cert.toString('pem') + '\n' };
}

export async function mint(options: MintOptions): Promise<Minted> {
  const leafKeys = options.freshKey ? await crypto.webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) : await keys();
  const now = Date.now();
  // Whole seconds: certificates carry second precision.
  const notBefore = new Date(Math.floor((now + (options.notBefore ?? -86400) * 1000) / 1000) * 1000);
  const notAfter = new Date(Math.floor((now + options.notAfter * 1000) / 1000) * 1000);
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.SubjectAlternativeNameExtension(options.names.map((value) => ({ type: 'dns' as const, value }))),
  ];
  const name = `CN=${options.cn ?? options.names[0] ?? 'no-name'}`;
  const cert = options.issuer
    ? await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: name,
        issuer: options.issuer.cert.subject,
        notBefore,
        notAfter,
        signingAlgorithm: ALG,
        publicKey: leafKeys.publicKey,
        signingKey: options.issuer.keys.privateKey,
        extensions,
      })
    : await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial(),
        name,
        notBefore,
        notAfter,
        signingAlgorithm: ALG,
        keys: leafKeys,
        extensions,
      });
  const pkcs8 = await crypto.webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
  return { pem: cert.toString('pem') + '\n', der: Buffer.from(cert.rawData), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n', notAfter, cert };
}

export const DAY = 86400;
