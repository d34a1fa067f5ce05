/**
 * The group's current certificate and key: what the policy judges (due or not), what a new order
 * names in ARI's `replaces`, what key reuse certifies again and what the trust check compares with.
 *
 * Today this reads the worker's own layout, `certs/<name>/fullchain.pem` and `privkey.pem`. It is
 * the one place to change for issue 13's points 1-3: the pair is to come from the exporter's
 * Prosody lookup (src/discovery/, every layout, `ssl` tables, wildcards, certbot lineages), so that
 * a valid certificate anywhere Prosody would use it counts, and `file` then names where it lives.
 * Never throws: an unreadable or missing file is no certificate.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseCertificates, type Certificate } from '../cert';
import { CERT_FILE, KEY_FILE } from './install-layout';
import type { CertificateGroup } from './types';

export interface CurrentPair {
  /** The certificate file's text ('' when there is none). */
  pem: string;
  keyPem?: string;
  /** Its first certificate, when readable. */
  leaf?: Certificate;
  /** Where the certificate was found. */
  file: string;
}

export async function currentPair(certsDir: string, group: CertificateGroup): Promise<CurrentPair> {
  const dir = path.join(certsDir, group.name);
  const file = path.join(dir, CERT_FILE);
  const read = (f: string) => fs.promises.readFile(f, 'utf8').catch(() => undefined);
  const [pem, keyPem] = await Promise.all([read(file), read(path.join(dir, KEY_FILE))]);
  const leaf = pem ? firstCertificate(pem) : undefined;
  return { pem: pem ?? '', file, ...(keyPem !== undefined ? { keyPem } : {}), ...(leaf ? { leaf } : {}) };
}

export function firstCertificate(pem: string): Certificate | undefined {
  const parsed = parseCertificates(Buffer.from(pem));
  return parsed.ok ? parsed.certificates[0] : undefined;
}
