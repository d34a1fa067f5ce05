/**
 * Which private key a renewal certifies (`renewal.key`). Without reuse: none chosen here, the
 * issuer makes a fresh key each time. With `reuse: true` (for DANE `3 1 1` records, which pin the
 * key): the key of the installed pair is certified again, until a rotation (`renew --rotate-key`,
 * or the first renewal after the key is `maxAge` old, or a key that no longer fits: another
 * keyType, a pair that does not match). A rotation switches to the prepared *next* key, so its
 * TLSA record can be published long before the switch (`xmpp-cert tlsa`); a new next key is then
 * prepared. A fresh key (revoke --reason keyCompromise) replaces both.
 *
 * Where (per group, under `<stateDir>/keys/<group>/`, directory 0700): `next.pem` (the next key,
 * 0600, written to a temp file, fsynced and renamed) and `key.json` (the SHA-256 of the current
 * key's SPKI and since when it is in use: the age `maxAge` is measured by). The current key itself
 * lives only in the installed pair (certs/<group>/privkey.pem), so there is one copy of it. The
 * state directory, not the certificate tree, holds the next key: Prosody (and its group) can read
 * the installed key but need never see the next one. Turning reuse off removes the group's
 * directory at the next install. Call under the group's lock. Never logs key material.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { KeyConfig, KeyType } from '../config/renewal-schema';
import { realOps, writeFileDurably } from '../state/durable-fs';
import { generateKey } from './issuers/acme-keys';
import { spkiSha256 } from './tlsa';

export type KeySource = 'reused' | 'rotated' | 'fresh';

export interface KeyChoice {
  pem: string;
  source: KeySource;
  /** Why, for the step output ("reusing the key in use since ..."). */
  why: string;
}

export interface KeyRequest {
  /** Switch to the next key now (renew --rotate-key). */
  rotate?: boolean;
  /** A new key, the next one discarded too (key compromise). */
  fresh?: boolean;
}

/** The installed pair, as the renewer read it. */
export interface InstalledKey {
  keyPem?: string;
  certificatePem?: string;
}

interface KeyRecord {
  spki: string;
  since: number;
  /** Revoked for keyCompromise: never certified again, whatever `reuse` says. */
  compromised?: boolean;
}

export class KeyStore {
  constructor(
    private readonly stateDir: string,
    private readonly config: KeyConfig,
    private readonly now: () => number,
  ) {}

  /** The key for an order of `group` with an issuer of `keyType`; undefined: let the issuer make one. */
  async choose(group: string, keyType: KeyType | undefined, installed: InstalledKey, request: KeyRequest = {}): Promise<KeyChoice | undefined> {
    if (!this.config.reuse || !keyType) return undefined;
    if (request.fresh) return { pem: generateKey(keyType), source: 'fresh', why: 'a fresh key, the prepared next key discarded' };
    const record = await this.record(group);
    if (record?.compromised && installed.keyPem && spkiSha256(installed.keyPem) === record.spki) {
      return { pem: generateKey(keyType), source: 'fresh', why: 'a fresh key: the installed one was revoked as compromised' };
    }
    const current = usableKey(installed, keyType);
    const since = current && record?.spki === spkiSha256(current) ? record.since : undefined;
    const old = since !== undefined && this.config.maxAge !== undefined && this.now() - since >= this.config.maxAge;
    if (current && !request.rotate && !old) {
      const from = since === undefined ? '' : ` (in use since ${new Date(since * 1000).toISOString()})`;
      return { pem: current, source: 'reused', why: `reusing the installed key${from}` };
    }
    const why = request.rotate
      ? 'rotation asked for'
      : old
        ? `the key is older than renewal.key.maxAge`
        : `the installed key cannot be reused (${whyUnusable(installed, keyType)})`;
    const next = await this.next(group);
    if (next && keyTypeOf(next) === keyType) return { pem: next, source: 'rotated', why: `switching to the prepared next key: ${why}` };
    return { pem: generateKey(keyType), source: 'fresh', why: `a fresh key (no prepared next key of type ${keyType}): ${why}` };
  }

  /** After an install: record the key in use; after a switch (or when none is prepared yet), prepare the next key. */
  async installed(group: string, keyPem: string, keyType: KeyType | undefined, source?: KeySource): Promise<void> {
    const dir = this.dir(group);
    if (!this.config.reuse) {
      await fs.promises.rm(dir, { recursive: true, force: true });
      return;
    }
    const spki = spkiSha256(keyPem);
    const record = await this.record(group);
    const next = await this.next(group);
    if (record?.spki !== spki || record.compromised)
      await this.write(group, 'key.json', JSON.stringify({ spki, since: Math.floor(this.now()) } satisfies KeyRecord) + '\n');
    const nextUsed = next !== undefined && spkiSha256(next) === spki;
    if (keyType && (!next || nextUsed || source === 'fresh' || keyTypeOf(next) !== keyType)) await this.write(group, 'next.pem', generateKey(keyType));
  }

  /**
   * After a revocation for keyCompromise (`spki`: the revoked certificate's key): that key is
   * never certified again, and the next key, kept in the same place, is discarded too.
   */
  async compromised(group: string, spki: string): Promise<void> {
    await fs.promises.rm(path.join(this.dir(group), 'next.pem'), { force: true });
    await this.write(group, 'key.json', JSON.stringify({ spki, since: Math.floor(this.now()), compromised: true } satisfies KeyRecord) + '\n');
  }

  /** The prepared next key, when there is one. */
  async next(group: string): Promise<string | undefined> {
    return fs.promises.readFile(path.join(this.dir(group), 'next.pem'), 'utf8').catch(() => undefined);
  }

  private async record(group: string): Promise<KeyRecord | undefined> {
    try {
      const parsed = JSON.parse(await fs.promises.readFile(path.join(this.dir(group), 'key.json'), 'utf8')) as Partial<KeyRecord>;
      if (typeof parsed.spki !== 'string' || typeof parsed.since !== 'number') return undefined;
      return { spki: parsed.spki, since: parsed.since, ...(parsed.compromised === true ? { compromised: true } : {}) };
    } catch {
      return undefined;
    }
  }

  private write(group: string, file: string, text: string): Promise<void> {
    return writeFileDurably(realOps, path.join(this.dir(group), file), text, { mode: 0o600, dirMode: 0o700 });
  }

  private dir(group: string): string {
    return path.join(this.stateDir, 'keys', group);
  }
}

/** The installed key when it matches the installed certificate and is of `keyType`. */
function usableKey(installed: InstalledKey, keyType: KeyType): string | undefined {
  return whyUnusable(installed, keyType) === undefined ? installed.keyPem : undefined;
}

function whyUnusable(installed: InstalledKey, keyType: KeyType): string | undefined {
  if (!installed.keyPem) return 'no installed key';
  const type = keyTypeOf(installed.keyPem);
  if (type === undefined) return 'the installed key does not parse';
  if (type !== keyType) return `it is ${type}, the issuer wants ${keyType}`;
  try {
    if (installed.certificatePem && spkiSha256(new crypto.X509Certificate(installed.certificatePem)) !== spkiSha256(installed.keyPem)) {
      return 'it does not match the installed certificate';
    }
  } catch {
    return 'the installed certificate does not parse';
  }
  return undefined;
}

/** The KeyType of a PEM private key, or undefined (unparsable, or a type we do not issue). */
export function keyTypeOf(pem: string): KeyType | undefined {
  try {
    const key = crypto.createPrivateKey(pem);
    const details = key.asymmetricKeyDetails;
    if (key.asymmetricKeyType === 'ec')
      return details?.namedCurve === 'prime256v1' ? 'ecdsa-p256' : details?.namedCurve === 'secp384r1' ? 'ecdsa-p384' : undefined;
    if (key.asymmetricKeyType === 'rsa')
      return ({ 2048: 'rsa-2048', 3072: 'rsa-3072', 4096: 'rsa-4096' } as const)[details?.modulusLength as 2048] ?? undefined;
    return undefined;
  } catch {
    return undefined;
  }
}
