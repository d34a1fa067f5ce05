/**
 * `xmpp-cert run`: the embedded default. Before serving, every watched domain that has no
 * certificate gets a self-signed one in the certificate directory (Prosody's layout). The full
 * renewal worker will take this place; until then this is all `run` adds to `serve`.
 * It is the entry point of everything that uses @peculiar/x509, hence reflect-metadata here.
 */
import 'reflect-metadata';
import fs from 'node:fs';
import type { Config } from '../config';
import type { Report } from '../evaluate';
import { issueSelfSigned } from '../renewal/issuers/selfsigned';
import { installPair } from '../renewal/install';
import type { Logger } from '../shared/log';

export async function ensureSelfSigned(report: Report, config: Config, log: Logger): Promise<string[]> {
  const missing = report.domains.filter((d) => d.status === 'missing').map((d) => d.domain);
  if (missing.length === 0) return [];
  const certsDir = report.certsDir;
  if (!certsDir) {
    log.warn({ domains: missing }, 'no certificate directory configured (prosody.certs): cannot create self-signed certificates');
    return [];
  }
  await fs.promises.mkdir(certsDir, { recursive: true, mode: 0o755 });
  const issuer = config.renewal.issuers.find((i) => i.type === 'selfsigned');
  const lifetime = issuer?.lifetime ?? 90 * 86400;
  for (const domain of missing) {
    const pair = await issueSelfSigned([domain], lifetime);
    const installed = await installPair(certsDir, domain, pair.certificatePem, pair.privateKeyPem);
    log.info({ domain, file: installed.certificate, notAfter: pair.notAfter.toISOString() }, `issued a self-signed certificate for ${domain}`);
  }
  return missing;
}
