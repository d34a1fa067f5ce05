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
