/** Certificates made by the real openssl command, and what `openssl x509 -enddate` says of them. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export function opensslSelfSigned(
  dir: string,
  names: string[],
  days: number,
  certName = 'cert.pem',
  keyName = 'key.pem',
  keyType: 'ec' | 'rsa' = 'ec',
): { cert: string; key: string } {
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, certName);
  const key = path.join(dir, keyName);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      ...(keyType === 'rsa' ? ['rsa:2048'] : ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']),
      '-nodes',
      '-days',
      String(days),
      '-subj',
      `/CN=${names[0]}`,
      '-addext',
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'pipe' },
  );
  return { cert, key };
}

/** notAfter as Unix seconds, from `openssl x509 -enddate -noout`. */
export function opensslEndDate(file: string, inform: 'PEM' | 'DER' = 'PEM'): number {
  const out = execFileSync('openssl', ['x509', '-enddate', '-noout', '-inform', inform, '-in', file], { encoding: 'utf8' });
  const match = /notAfter=(.+)/.exec(out);
  if (!match) throw new Error(`openssl printed no notAfter: ${out}`);
  return Date.parse(match[1]!) / 1000;
}

/** The DANE `x 1 1` value as openssl computes it: SHA-256 of the DER SubjectPublicKeyInfo, hex. */
export function opensslSpkiSha256(file: string, kind: 'cert' | 'key'): string {
  const pem = kind === 'cert' ? execFileSync('openssl', ['x509', '-in', file, '-noout', '-pubkey']) : execFileSync('openssl', ['pkey', '-in', file, '-pubout']);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: pem });
  const out = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der, encoding: 'utf8' });
  return out.split(' ')[0]!.trim();
}
