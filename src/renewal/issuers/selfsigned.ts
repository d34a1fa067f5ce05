/**
 * The self-signed issuer: a fresh key (ECDSA P-256/P-384 or RSA) and a certificate for a group of
 * names, made with @peculiar/x509 on node's WebCrypto. For the embedded default and as the
 * last-resort fallback; never a replacement for a valid CA certificate (policy.ts decides that).
 * @peculiar/x509 needs reflect-metadata loaded first; this module is its only user, so it loads it.
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { KeyType, SelfSignedIssuerConfig } from '../../config/renewal-schema';
import { IssueError, RenewalError, messageOf } from '../../shared/errors';
import type { IssuedPair, Issuer } from '../types';

type Algorithm = crypto.webcrypto.RsaHashedKeyGenParams | (crypto.webcrypto.EcKeyGenParams & { hash: string });

const ALGORITHMS: Record<KeyType, Algorithm> = {
  'ecdsa-p256': { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
  'ecdsa-p384': { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' },
  'rsa-2048': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  'rsa-3072': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  'rsa-4096': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 4096, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
};

export function createSelfSignedIssuer(config: SelfSignedIssuerConfig): Issuer {
  return {
    name: config.name ?? 'selfsigned',
    type: 'selfsigned',
    keyType: config.keyType,
    async issue(group, context) {
      try {
        return await issueSelfSigned(group.domains, config.lifetime, new Date(), config.keyType, context.privateKeyPem);
      } catch (err) {
        throw new RenewalError(messageOf(err), 'unknown', group.name, {}, { cause: err });
      }
    },
  };
}

export async function issueSelfSigned(
  names: readonly string[],
  lifetimeSeconds: number,
  now = new Date(),
  keyType: KeyType = 'ecdsa-p256',
  /** Certify this key (PKCS#8 PEM of `keyType`) instead of a fresh one: key reuse. */
  privateKeyPem?: string,
): Promise<IssuedPair> {
  const [primary] = names;
  if (!primary) throw new IssueError('a certificate needs at least one name', '');
  try {
    x509.cryptoProvider.set(crypto.webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    const algorithm = ALGORITHMS[keyType];
    const keys = privateKeyPem ? await importPair(privateKeyPem, algorithm) : await crypto.webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
    // Backdate an hour so a peer with a slightly slow clock accepts it at once.
    const notBefore = new Date(now.getTime() - 3600_000);
    const notAfter = new Date(now.getTime() + lifetimeSeconds * 1000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: crypto
        .randomBytes(16)
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: `CN=${primary}`,
      notBefore,
      notAfter,
      signingAlgorithm: algorithm,
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

/** A PEM private key as a WebCrypto pair (the public half derived by node crypto). */
async function importPair(pem: string, algorithm: Algorithm): Promise<crypto.webcrypto.CryptoKeyPair> {
  const privateKey = crypto.createPrivateKey(pem);
  const subtle = crypto.webcrypto.subtle;
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return {
    privateKey: await subtle.importKey('pkcs8', pkcs8, algorithm, true, ['sign']),
    publicKey: await subtle.importKey('spki', spki, algorithm, true, ['verify']),
  };
}
