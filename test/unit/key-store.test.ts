/**
 * The key store's choices beyond the happy path, on a real state directory: a keyType change
 * switches to the next key only when it has that type; a key that does not match the installed
 * certificate is not reused; a lost key.json keeps the prepared next key; a compromised key is
 * never chosen again; files are 0600 in a 0700 directory. And the self-signed issuer certifies a
 * given key (key reuse through a fallback).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKey } from '../../src/renewal/issuers/acme-keys';
import { issueSelfSigned } from '../../src/renewal/issuers/selfsigned';
import { KeyStore, keyTypeOf } from '../../src/renewal/key-store';
import { spkiSha256, tlsaEnvironment } from '../../src/renewal/tlsa';

let dir: string;
let now = 1_900_000_000;
const store = (reuse = true, maxAge?: number) => new KeyStore(dir, { reuse, ...(maxAge ? { maxAge } : {}) }, () => now);
const keysDir = () => path.join(dir, 'keys', 'g');

beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-keystore-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function installedPair(keyPem: string) {
  const pair = await issueSelfSigned(['g.example'], 86400, new Date(now * 1000), keyTypeOf(keyPem), keyPem);
  return { keyPem, certificatePem: pair.certificatePem };
}

test('keyTypeOf names every key type the issuers make', () => {
  for (const type of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072'] as const) expect(keyTypeOf(generateKey(type))).toBe(type);
  expect(keyTypeOf('not a key')).toBeUndefined();
});

test('the self-signed issuer certifies a given key', async () => {
  const key = generateKey('rsa-3072');
  const pair = await issueSelfSigned(['g.example'], 86400, new Date(), 'rsa-3072', key);
  expect(spkiSha256(new crypto.X509Certificate(pair.certificatePem))).toBe(spkiSha256(key));
  expect(tlsaEnvironment(pair.certificatePem)).toEqual({ TLSA_3_1_1: spkiSha256(key) }); // no issuer in a self-signed chain
});

test('first install: key.json and a next key of the issuer type, 0600 in 0700', async () => {
  const keys = store();
  expect(await keys.choose('g', 'ecdsa-p256', {})).toMatchObject({ source: 'fresh' });
  const current = generateKey('ecdsa-p256');
  await keys.installed('g', current, 'ecdsa-p256', 'fresh');
  const next = (await keys.next('g'))!;
  expect(keyTypeOf(next)).toBe('ecdsa-p256');
  expect(spkiSha256(next)).not.toBe(spkiSha256(current));
  expect(fs.statSync(keysDir()).mode & 0o777).toBe(0o700);
  for (const f of ['next.pem', 'key.json']) expect(fs.statSync(path.join(keysDir(), f)).mode & 0o777).toBe(0o600);
  expect(JSON.parse(fs.readFileSync(path.join(keysDir(), 'key.json'), 'utf8'))).toEqual({ spki: spkiSha256(current), since: now });
});

test('a keyType change: the next key if it has the new type, else a fresh one', async () => {
  const keys = store();
  const current = generateKey('ecdsa-p256');
  await keys.installed('g', current, 'ecdsa-p256', 'fresh');
  const installed = await installedPair(current);
  const toRsa = await keys.choose('g', 'rsa-2048', installed);
  expect(toRsa).toMatchObject({ source: 'fresh' });
  expect(toRsa!.why).toContain('it is ecdsa-p256, the issuer wants rsa-2048');
  expect(keyTypeOf(toRsa!.pem)).toBe('rsa-2048');
  const next = await keys.next('g');
  expect(await keys.choose('g', 'ecdsa-p384', installed)).toMatchObject({ source: 'fresh' });
  // Same type: the installed key is reused; the next key untouched.
  expect(await keys.choose('g', 'ecdsa-p256', installed)).toMatchObject({ source: 'reused', pem: current });
  expect(await keys.next('g')).toBe(next);
});

test('a key that does not match the installed certificate is not reused: the next key takes over', async () => {
  const keys = store();
  const current = generateKey('ecdsa-p256');
  await keys.installed('g', current, 'ecdsa-p256', 'fresh');
  const other = await installedPair(generateKey('ecdsa-p256'));
  const choice = await keys.choose('g', 'ecdsa-p256', { keyPem: current, certificatePem: other.certificatePem });
  expect(choice).toMatchObject({ source: 'rotated', pem: await keys.next('g') });
  expect(choice!.why).toContain('it does not match the installed certificate');
});

test('a lost key.json: the key is still reused, and the prepared next key is kept', async () => {
  const keys = store(true, 86400);
  const current = generateKey('ecdsa-p256');
  await keys.installed('g', current, 'ecdsa-p256', 'fresh');
  const next = await keys.next('g');
  fs.rmSync(path.join(keysDir(), 'key.json'));
  now += 10 * 86400; // its age is unknown: not rotated for maxAge
  const choice = await keys.choose('g', 'ecdsa-p256', await installedPair(current));
  expect(choice).toMatchObject({ source: 'reused', why: 'reusing the installed key' });
  await keys.installed('g', current, 'ecdsa-p256', 'reused');
  expect(await keys.next('g')).toBe(next);
  expect(JSON.parse(fs.readFileSync(path.join(keysDir(), 'key.json'), 'utf8')).since).toBe(now);
});

test('a compromised key is never chosen again; installing a fresh one clears the mark', async () => {
  const keys = store();
  const current = generateKey('ecdsa-p256');
  await keys.installed('g', current, 'ecdsa-p256', 'fresh');
  await keys.compromised('g', spkiSha256(current));
  expect(await keys.next('g')).toBeUndefined();
  const choice = await keys.choose('g', 'ecdsa-p256', await installedPair(current), {});
  expect(choice).toMatchObject({ source: 'fresh' });
  expect(spkiSha256(choice!.pem)).not.toBe(spkiSha256(current));
  await keys.installed('g', choice!.pem, 'ecdsa-p256', 'fresh');
  expect(await keys.choose('g', 'ecdsa-p256', await installedPair(choice!.pem))).toMatchObject({ source: 'reused' });
});

test('reuse off: nothing chosen, and the group directory is removed at install', async () => {
  await store().installed('g', generateKey('ecdsa-p256'), 'ecdsa-p256', 'fresh');
  expect(fs.existsSync(keysDir())).toBe(true);
  expect(await store(false).choose('g', 'ecdsa-p256', {}, { rotate: true })).toBeUndefined();
  await store(false).installed('g', generateKey('ecdsa-p256'), 'ecdsa-p256');
  expect(fs.existsSync(keysDir())).toBe(false);
});
