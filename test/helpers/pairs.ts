/**
 * Certificate/key pairs with a fresh key each (the self-signed issuer), and the check that a key
 * belongs to a certificate: their public keys compared with node's crypto, as OpenSSL's
 * "key values mismatch" check does before Prosody can use a pair.
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { issueSelfSigned } from '../../src/renewal/issuers/selfsigned';
import type { PairPem } from '../../src/renewal/install';

export async function freshPairs(count: number, name = 'example.org'): Promise<PairPem[]> {
  const pairs: PairPem[] = [];
  for (let i = 0; i < count; i++) {
    const { certificatePem, privateKeyPem } = await issueSelfSigned([name], 86400);
    pairs.push({ certificatePem, privateKeyPem });
  }
  return pairs;
}

export function keyMatches(certificatePem: string, privateKeyPem: string): boolean {
  const fromCert = new crypto.X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
  const fromKey = crypto.createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
  return fromCert.equals(fromKey);
}

/** Reads certs/<name>/ as Prosody does (two opens by path) and returns the pair. */
export function readLive(certsDir: string, name: string): PairPem {
  const dir = path.join(certsDir, name);
  return { certificatePem: fs.readFileSync(path.join(dir, 'fullchain.pem'), 'utf8'), privateKeyPem: fs.readFileSync(path.join(dir, 'privkey.pem'), 'utf8') };
}
