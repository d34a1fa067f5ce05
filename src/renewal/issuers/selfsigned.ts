/**
 * The self-signed issuer: a fresh ECDSA P-256 key and a certificate for a group of names, made
 * with @peculiar/x509 on node's WebCrypto. For the embedded default and as the last-resort
 * fallback; never a replacement for a valid CA certificate (the renewal policy decides that).
 * Needs `import "reflect-metadata"` once at the entry point (cli.ts does it).
 */
import crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { IssueError, messageOf } from '../../shared/errors';

export interface IssuedPair {
  /** The certificate chain, leaf first (here: only the leaf). */
  certificatePem: string;
  privateKeyPem: string;
  notAfter: Date;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export async function issueSelfSigned(names: readonly string[], lifetimeSeconds: number, now = new Date()): Promise<IssuedPair> {
  const [primary] = names;
  if (!primary) throw new IssueError('a certificate needs at least one name', '');
  try {
    x509.cryptoProvider.set(crypto.webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    const keys = (await crypto.webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as crypto.webcrypto.CryptoKeyPair;
    // Backdate an hour so a peer with a slightly slow clock accepts it at once.
    const notBefore = new Date(now.getTime() - 3600_000);
    const notAfter = new Date(now.getTime() + lifetimeSeconds * 1000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: crypto.randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
      name: `CN=${primary}`,
      notBefore,
      notAfter,
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value }))),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const pkcs8 = await crypto.webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return { certificatePem: cert.toString('pem') + '\n', privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n', notAfter };
  } catch (err) {
    throw new IssueError(`cannot create a self-signed certificate for ${primary}: ${messageOf(err)}`, primary, { cause: err });
  }
}
