/**
 * What Prosody would refuse to load, judged without Prosody (the agreement suite checks the same
 * against the real one): PEM leniency and strictness of the parser, OpenSSL security level 2 on
 * keys and signatures, key facts (exists, Prosody's user may read it, matches), and how a domain
 * is judged over every file it may be served with (the worse of an ambiguous pair).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { parseCertificates, spkiOfPrivateKey, type FileResult } from '../../src/cert';
import { configSchema } from '../../src/config';
import { evaluate } from '../../src/evaluate';
import { loadVerdict } from '../../src/evaluate/loadability';
import type { Inventory } from '../../src/model/inventory';
import { KeyChecker, mayRead } from '../../src/sources/keys';
import { DAY, makeCA, mint } from '../helpers/certs';
import { opensslSha1Signed } from '../helpers/openssl';

const reason = (r: FileResult) => (r.ok ? 'ok' : r.error.reason);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-load-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

describe('PEM as OpenSSL reads it', () => {
  test('text of any length before -----BEGIN is skipped (Bag Attributes, x509 -text dumps, blank lines)', async () => {
    const leaf = await mint({ names: ['bag.example'], notAfter: 10 * DAY });
    for (const prefix of ['\n\n', 'Bag Attributes\n    friendlyName: x\n', `${'Certificate:\n    Data: ...\n'.repeat(200)}`]) {
      const r = parseCertificates(Buffer.from(prefix + leaf.pem));
      expect(r.ok && r.certificates[0]!.dnsNames).toEqual(['bag.example']);
      expect(r.ok && r.der).toBeFalsy();
    }
  });

  test('a chain block without its END line makes the whole file bad_pem, keeping the leaf for the index', async () => {
    const ca = await makeCA('Trunc CA');
    const leaf = await mint({ names: ['trunc.example'], notAfter: 10 * DAY, issuer: ca });
    const r = parseCertificates(Buffer.from(leaf.pem + ca.pem.slice(0, 100)));
    expect(reason(r)).toBe('bad_pem');
    expect(!r.ok && r.error.message).toMatch(/certificate block 2 has no -----END CERTIFICATE----- line/);
    expect(!r.ok && r.leaf?.dnsNames).toEqual(['trunc.example']);
  });

  test('DER is read but flagged: LuaSec loads PEM only', async () => {
    const leaf = await mint({ names: ['der.example'], notAfter: 10 * DAY });
    const r = parseCertificates(leaf.der);
    expect(r.ok && r.der).toBe(true);
    expect(loadVerdict('/c/der.crt', '/c/der.key', true, r, { exists: true, matches: true })).toMatchObject({ reason: 'not_pem' });
  });
});

describe('OpenSSL security level 2', () => {
  test.each([
    ['rsa:1024', 'key_too_small'],
    ['rsa:2048', undefined],
    ['ec -pkeyopt ec_paramgen_curve:prime192v1', 'key_too_small'],
    ['ec -pkeyopt ec_paramgen_curve:P-256', undefined],
  ])('a self-signed %s leaf: %s', (alg, expected) => {
    const [kind, ...opts] = alg.split(' ');
    openssl('req', '-x509', '-newkey', kind!, ...opts, '-nodes', '-subj', '/CN=k.example', '-days', '10', '-keyout', 'k.key', '-out', 'k.crt');
    const r = parseCertificates(fs.readFileSync(path.join(dir, 'k.crt')));
    expect(loadVerdict('/c/k.crt', '/c/k.key', true, r, { exists: true, matches: true }).reason).toBe(expected);
  });

  test('SHA-1 from a CA is refused; SHA-1 on a self-signed certificate is not checked by OpenSSL', () => {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-sha1',
      '-subj',
      '/CN=ca',
      '-days',
      '10',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    );
    const self = parseCertificates(fs.readFileSync(path.join(dir, 'ca.crt')));
    expect(self.ok && self.certificates[0]!.signatureDigest).toBe('sha1');
    expect(loadVerdict('/c/ca.crt', '/c/ca.key', true, self, { exists: true, matches: true }).reason).toBeUndefined();
    const leaf = parseCertificates(fs.readFileSync(opensslSha1Signed(dir, 'leaf.example').cert));
    expect(loadVerdict('/c/l.crt', '/c/l.key', true, leaf, { exists: true, matches: true }).reason).toBe('weak_signature');
  });
});

describe('keys', () => {
  test('matches, mismatches, not a key, missing, and not readable by the exporter (not checked)', async () => {
    const leaf = await mint({ names: ['key.example'], notAfter: 10 * DAY });
    const spki = parseCertificates(Buffer.from(leaf.pem));
    const cert = spki.ok ? spki.certificates[0]!.spkiSha256 : '';
    fs.writeFileSync(path.join(dir, 'good.key'), leaf.keyPem);
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key');
    fs.writeFileSync(path.join(dir, 'junk.key'), 'not a key');
    const checker = new KeyChecker();
    expect(checker.check(path.join(dir, 'good.key'), cert, undefined)).toEqual({ exists: true, matches: true });
    expect(checker.check(path.join(dir, 'other.key'), cert, undefined)).toEqual({ exists: true, matches: false });
    expect(checker.check(path.join(dir, 'junk.key'), cert, undefined)).toMatchObject({ exists: true, matches: false });
    expect(checker.check(path.join(dir, 'none.key'), cert, undefined)).toEqual({ exists: false });
    expect(loadVerdict('/c/x.crt', '/c/none.key', true, spki, { exists: false })).toMatchObject({ reason: 'key_missing' });
    expect(loadVerdict('/c/x.crt', '/c/k.key', true, spki, { exists: true, note: 'not checked: the exporter cannot read /c/k.key (EACCES)' })).toEqual({
      notChecked: "not checked: the exporter cannot read /c/k.key (EACCES); Prosody's user is unknown here: its access to the key not checked",
    });
  });

  test("Prosody's user: owner, group and other bits, and x on every directory above", () => {
    const sub = path.join(dir, 'perm');
    fs.mkdirSync(sub, { mode: 0o750 });
    fs.chmodSync(dir, 0o755);
    const file = path.join(sub, 'k.key');
    fs.writeFileSync(file, 'x', { mode: 0o640 });
    const st = fs.statSync(file);
    const other = { name: 'other', uid: st.uid + 4242, gids: new Set([st.gid + 4242]) };
    const group = { name: 'grp', uid: st.uid + 4242, gids: new Set([st.gid]) };
    const owner = { name: 'own', uid: st.uid === 0 ? 4343 : st.uid, gids: new Set<number>() };
    if (st.uid !== 0) expect(mayRead(file, owner)).toBe(true);
    expect(mayRead(file, group)).toBe(true);
    expect(mayRead(file, other)).toBe(false);
    fs.chmodSync(sub, 0o700);
    expect(mayRead(file, group)).toBe(false);
    expect(mayRead(file, { name: 'root', uid: 0, gids: new Set([0]) })).toBe(true);
    expect(loadVerdict('/c/x.crt', file, true, { ok: true, certificates: [] }, { exists: true, prosodyCanRead: false, matches: true })).toMatchObject({
      reason: 'key_unreadable',
    });
  });
});

describe('a domain is judged over every file it may be served with', () => {
  test('an ambiguous lookup: the worse of the two counts, both are named', async () => {
    const soon = await mint({ names: ['dup.example'], notAfter: 2 * DAY });
    const later = await mint({ names: ['dup.example'], notAfter: 60 * DAY });
    const parsed = (m: { pem: string }) => parseCertificates(Buffer.from(m.pem));
    const inventory: Inventory = {
      scannedAt: Date.now() / 1000,
      domains: [
        {
          name: 'dup.example',
          origin: 'VirtualHost',
          served: {
            host: 'dup.example',
            cert: '/c/b.crt',
            key: '/c/b.key',
            keyFound: true,
            via: 'index',
            matchedName: 'dup.example',
            alternatives: [{ cert: '/c/a.crt', key: '/c/a.key' }],
          },
        },
      ],
      files: new Map([
        ['/c/a.crt', parsed(soon)],
        ['/c/b.crt', parsed(later)],
      ]),
      keys: new Map(),
      ports: [],
      sources: [],
    };
    const report = evaluate(inventory, configSchema.parse({ thresholds: { warning: 14, critical: 7 } }).thresholds, Date.now() / 1000);
    expect(report.domains[0]).toMatchObject({ status: 'critical', ambiguous: true, alternatives: ['/c/a.crt'], file: '/c/b.crt' });
    expect(report.domains[0]!.detail).toContain('/c/b.crt and /c/a.crt both carry the name');
  });
});

describe('the public half of a private key, read from its DER', () => {
  test.each([
    ['PKCS#8 EC', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ['SEC1 EC', ['ecparam', '-name', 'secp384r1', '-genkey', '-noout']],
    ['PKCS#8 RSA', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']],
    ['PKCS#1 RSA', ['genrsa', '-traditional', '2048']],
  ])('%s: the same SubjectPublicKeyInfo as OpenSSL derives', (_name, args) => {
    const pem = openssl(...args).toString();
    const expected = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
    expect(spkiOfPrivateKey(pem)?.toString('hex')).toBe(expected.toString('hex'));
  });

  test('a key without its public half, or not a key, is left to OpenSSL', () => {
    expect(spkiOfPrivateKey(openssl('genpkey', '-algorithm', 'ED25519').toString())).toBeUndefined();
    expect(spkiOfPrivateKey('junk')).toBeUndefined();
  });
});
