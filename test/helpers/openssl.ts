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

/**
 * TLSA association data (hex) for a PEM certificate as operators make it with openssl (RFC 6698
 * and the usual recipe): selector 0 the certificate's DER, 1 its public key (SPKI) as DER;
 * matching type 0 the bytes, 1 SHA-256, 2 SHA-512.
 */
export function opensslTlsaData(pem: string, selector: number, matchingType: number): string {
  const der =
    selector === 1
      ? execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: execFileSync('openssl', ['x509', '-noout', '-pubkey'], { input: pem }) })
      : execFileSync('openssl', ['x509', '-outform', 'DER'], { input: pem });
  if (matchingType === 0) return der.toString('hex');
  return execFileSync('openssl', ['dgst', matchingType === 1 ? '-sha256' : '-sha512', '-binary'], { input: der }).toString('hex');
}

/**
 * A certificate for `name` signed with SHA-1 by a throwaway CA (OpenSSL's security level 2 refuses
 * it; a self-signed one would be exempt), and its key: `<name>.crt` and `<name>.key` in `dir`.
 */
export function opensslSha1Signed(dir: string, name: string): { cert: string; key: string } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const ca = opensslSelfSigned(path.join(dir, `.${name}-ca`), ['SHA-1 Test CA'], 30);
  const csr = path.join(dir, `.${name}-ca`, 'leaf.csr');
  run(
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name}`,
    '-keyout',
    key,
    '-out',
    csr,
  );
  run('x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-sha1', '-days', '30', '-copy_extensions', 'copy', '-out', cert);
  return { cert, key };
}
