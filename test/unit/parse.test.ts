import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCertificates, type FileResult } from '../../src/cert';
import { DAY, makeCA, mint } from '../helpers/certs';

const certs = (r: FileResult) => {
  if (!r.ok) throw new Error(`expected certificates, got ${r.error.reason}: ${r.error.message}`);
  return r.certificates;
};
const reason = (r: FileResult) => (r.ok ? 'ok' : r.error.reason);

describe('parseCertificates', () => {
  test('a PEM bundle: leaf then chain, in file order, with their facts', async () => {
    const ca = await makeCA('Bundle CA');
    const leaf = await mint({ names: ['example.org', 'conference.example.org'], notAfter: 30 * DAY, issuer: ca });
    const [first, second] = certs(parseCertificates(Buffer.from(leaf.pem + ca.pem)));
    expect(first!.position).toBe(0);
    expect(first!.dnsNames).toEqual(['example.org', 'conference.example.org']);
    expect(first!.commonName).toBe('example.org');
    expect(first!.notAfter).toBe(leaf.notAfter.getTime() / 1000);
    expect(first!.issuer).toBe('CN=Bundle CA');
    expect(first!.selfSigned).toBe(false);
    expect(first!.keyType).toBe('ec-prime256v1');
    expect(first!.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(second!.position).toBe(1);
    expect(second!.subject).toBe('CN=Bundle CA');
    expect(second!.selfSigned).toBe(true);
  });

  test('a DER certificate reads like its PEM form', async () => {
    const leaf = await mint({ names: ['der.example'], notAfter: 10 * DAY });
    const fromDer = certs(parseCertificates(leaf.der));
    expect(fromDer).toEqual(certs(parseCertificates(Buffer.from(leaf.pem))));
    expect(fromDer[0]!.selfSigned).toBe(true);
  });

  test('a combined cert+key .pem yields the certificate and ignores the key', async () => {
    const leaf = await mint({ names: ['combined.example'], notAfter: 10 * DAY });
    expect(certs(parseCertificates(Buffer.from(leaf.keyPem + leaf.pem)))).toHaveLength(1);
  });

  test.each([
    ['empty file', 'empty', Buffer.alloc(0)],
    ['white space', 'empty', Buffer.from('\n  \n')],
    ['garbage text', 'bad_pem', Buffer.from('hello, I am not a certificate')],
    ['binary garbage starting like DER', 'bad_der', Buffer.from([0x30, 0x82, 0x01, 0x00, 1, 2, 3])],
    ['a PKCS#7 bundle', 'unsupported', Buffer.from('-----BEGIN PKCS7-----\nMIIB\n-----END PKCS7-----\n')],
  ])('%s -> %s', (_name, expected, bytes) => {
    expect(reason(parseCertificates(bytes))).toBe(expected);
  });

  test('a truncated PEM and a private key alone', async () => {
    const leaf = await mint({ names: ['t.example'], notAfter: 10 * DAY });
    expect(reason(parseCertificates(Buffer.from(leaf.pem.slice(0, leaf.pem.length / 2))))).toBe('bad_pem');
    const corrupt = leaf.pem.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
    expect(reason(parseCertificates(Buffer.from(corrupt)))).toBe('bad_pem');
    const keyOnly = parseCertificates(Buffer.from(leaf.keyPem));
    expect(reason(keyOnly)).toBe('no_certificate');
    expect(keyOnly.ok ? '' : keyOnly.error.message).toContain('PRIVATE KEY');
  });
});

test('XMPP identities: id-on-xmppAddr and SRVName otherNames (certificate made by openssl)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-parse-'));
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
      '2',
      '-subj',
      '/CN=example.org',
      '-addext',
      'subjectAltName=DNS:example.org,otherName:1.3.6.1.5.5.7.8.5;UTF8:Example.org,otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-server.example.org',
      '-keyout',
      `${dir}/k.pem`,
      '-out',
      `${dir}/c.pem`,
    ],
    { stdio: 'pipe' },
  );
  const [cert] = certs(parseCertificates(fs.readFileSync(`${dir}/c.pem`)));
  expect(cert!.dnsNames).toEqual(['example.org']);
  expect(cert!.xmppAddrs).toEqual(['example.org']);
  expect(cert!.srvNames).toEqual(['_xmpp-server.example.org']);
});
