/** Certificates made by the real openssl command, and what `openssl x509 -enddate` says of them. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export function opensslSelfSigned(dir: string, names: string[], days: number, certName = 'cert.pem', keyName = 'key.pem'): { cert: string; key: string } {
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, certName);
  const key = path.join(dir, keyName);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
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
