/**
 * `xmpp-cert revoke`: revokes a group's installed certificate (certs/<name>/fullchain.pem) at the
 * CA that issued it: the issuer named, else the one the state file says installed it, else the
 * first ACME issuer. Under the group's lock, so no renewal swaps the pair meanwhile. After a
 * keyCompromise revocation the key store marks that key so it is never certified again (even if
 * the renewal that follows fails and a later one runs with key reuse). It does not renew (the
 * caller does, right after) and never touches the installed files.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RenewalError, messageOf } from '../shared/errors';
import type { Logger } from '../shared/log';
import { withGroupLock } from '../state/lock';
import { readState } from '../state/state';
import type { KeyStore } from './key-store';
import { spkiSha256 } from './tlsa';
import type { CertificateGroup, Issuer, RevocationReason } from './types';

export interface Revoked {
  issuer: string;
  serial: string;
  notAfter: string;
}

export interface RevokeRequest {
  certsDir: string;
  stateDir: string;
  group: CertificateGroup;
  reason: RevocationReason;
  issuers: readonly Issuer[];
  issuer?: string;
  keys: KeyStore;
  log: Logger;
}

export async function revokeInstalled(request: RevokeRequest): Promise<Revoked> {
  const { group, stateDir, log } = request;
  return withGroupLock(
    stateDir,
    group.name,
    async () => {
      const file = path.join(request.certsDir, group.name, 'fullchain.pem');
      const pem = await fs.promises.readFile(file, 'utf8').catch((err: unknown) => {
        throw new RenewalError(`${group.name}: no installed certificate to revoke (${file}: ${messageOf(err)})`, 'unknown', group.name);
      });
      const leaf = parse(pem, file, group.name);
      if (leaf.checkIssued(leaf)) throw new RenewalError(`${group.name}: ${file} is self-signed; there is nothing to revoke at a CA`, 'unknown', group.name);
      const issuer = await pickIssuer(request);
      await issuer.revoke!(pem, request.reason, group.name, log);
      if (request.reason === 'keyCompromise') await request.keys.compromised(group.name, spkiSha256(leaf));
      return { issuer: issuer.name, serial: leaf.serialNumber, notAfter: leaf.validTo };
    },
    log,
  );
}

function parse(pem: string, file: string, name: string): crypto.X509Certificate {
  try {
    return new crypto.X509Certificate(pem);
  } catch (err) {
    throw new RenewalError(`${name}: ${file} holds no readable certificate (${messageOf(err)})`, 'unknown', name, {}, { cause: err });
  }
}

async function pickIssuer(request: RevokeRequest): Promise<Issuer> {
  const acme = request.issuers.filter((i) => i.revoke !== undefined);
  const { state } = await readState(request.stateDir);
  const wanted = request.issuer ?? state.groups[request.group.name]?.issuer;
  const issuer = wanted ? acme.find((i) => i.name === wanted) : acme[0];
  if (issuer) return issuer;
  const names = acme.map((i) => i.name).join(', ') || 'none';
  throw new RenewalError(
    wanted
      ? `no ACME issuer named "${wanted}" to revoke with (ACME issuers: ${names}); pass --issuer NAME`
      : 'no ACME issuer is configured: nothing can revoke',
    'unknown',
    request.group.name,
  );
}
