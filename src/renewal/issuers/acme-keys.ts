/**
 * Private keys for ACME: a fresh certificate key per keyType (PEM PKCS#8, node crypto), and the
 * account key, stored once per ACME directory under `<stateDir>/accounts/<host+path>/account.key`
 * (0600, directory 0700) and reused. The key file is written to a temp file, fsynced and linked into
 * place, so a crash never leaves a half-written key and two processes creating it at once agree on
 * one. It does not register the account (the issuer does) and never logs key material.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { KeyType } from '../../config/renewal-schema';

export function generateKey(keyType: KeyType): string {
  return keyPair(keyType).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function keyPair(keyType: KeyType): crypto.KeyPairKeyObjectResult {
  switch (keyType) {
    case 'ecdsa-p256':
      return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ecdsa-p384':
      return crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'rsa-2048':
      return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'rsa-3072':
      return crypto.generateKeyPairSync('rsa', { modulusLength: 3072 });
    case 'rsa-4096':
      return crypto.generateKeyPairSync('rsa', { modulusLength: 4096 });
  }
}

/** `https://acme-v02.api.letsencrypt.org/directory` -> `acme-v02.api.letsencrypt.org_directory`. */
export function accountKeyPath(stateDir: string, directoryUrl: string): string {
  const url = new URL(directoryUrl);
  const name = `${url.host}${url.pathname}`.replace(/\/+$/, '').replace(/[^A-Za-z0-9.-]+/g, '_');
  return path.join(stateDir, 'accounts', name, 'account.key');
}

/** The stored account key, created (ECDSA P-256, ES256 for the JWS) on first use. */
export function loadOrCreateAccountKey(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeNew(file, generateKey('ecdsa-p256'));
  return fs.readFileSync(file, 'utf8');
}

/** Writes a new file atomically; if another process created it meanwhile, theirs stays. */
function writeNew(file: string, content: string): void {
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(temp, 'wx', 0o600);
  try {
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    // link, unlike rename, fails when the target exists: the first key written wins.
    fs.linkSync(temp, file);
    syncDir(path.dirname(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/** Writes `content` to `file` (0600), fsynced; for a key that replaces another later (replaceKeyFile). */
export function stageKeyFile(file: string, content: string): void {
  const fd = fs.openSync(file, 'w', 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Renames a staged key over `file`, then makes the rename durable. */
export function replaceKeyFile(staged: string, file: string): void {
  fs.renameSync(staged, file);
  syncDir(path.dirname(file));
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
