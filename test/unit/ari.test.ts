/**
 * ACME Renewal Information (RFC 9773): the certificate ID against the RFC's own example (AKI
 * keyIdentifier 69:88:5B:...:C8:D4, serial 0x87654321 -> "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"), the
 * answer parsed into a window with Retry-After, and the issuer's renewalInfo() against a tiny local
 * HTTP server standing in for a CA that offers ARI (Pebble 2.4 has none).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ariCertId, parseRenewalInfo } from '../../src/renewal/ari';
import { createAcmeIssuer } from '../../src/renewal/issuers/acme';
import { createLogger } from '../../src/shared/log';
import { describeWithTools } from '../helpers/tools';

const RFC_KEY_ID = '69885b6b87464041e1b37b847ba0ae2cde01c8d4';

/** A certificate with the given serial (hex) and, when given, an AKI keyIdentifier (hex), made by openssl. */
function certificate(dir: string, serialHex: string, keyIdHex?: string): string {
  const out = path.join(dir, `cert-${serialHex}-${keyIdHex ?? 'none'}.pem`);
  // The AKI as raw DER: SEQUENCE { [0] keyIdentifier }. "none" keeps openssl from adding its own.
  const aki = keyIdHex ? `2.5.29.35=DER:301680${(keyIdHex.length / 2).toString(16).padStart(2, '0')}${keyIdHex}` : 'authorityKeyIdentifier=none';
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
      '/CN=example.com',
      '-set_serial',
      `0x${serialHex}`,
      '-addext',
      aki,
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      out,
    ],
    { stdio: 'pipe' },
  );
  return fs.readFileSync(out, 'utf8');
}

describeWithTools(['openssl'], 'ARI certificate ID', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-ari-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("RFC 9773's example: a serial with its high bit set keeps its leading zero octet", () => {
    expect(ariCertId(certificate(dir, '87654321', RFC_KEY_ID))).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  test('a serial without the high bit has no zero octet', () => {
    expect(ariCertId(certificate(dir, '12345678', RFC_KEY_ID))).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.EjRWeA');
  });

  test('a certificate without an Authority Key Identifier has no ID', () => {
    expect(() => ariCertId(certificate(dir, '01', undefined))).toThrow(/Authority Key Identifier/);
  });
});

describe('renewalInfo answers', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const window = { suggestedWindow: { start: '2030-01-10T00:00:00Z', end: '2030-01-11T12:00:00Z' } };

  test('window in Unix seconds, Retry-After in seconds or as a date, the explanation URL', () => {
    expect(parseRenewalInfo({ ...window, explanationURL: 'https://ca.example/why' }, '3600', now)).toEqual({
      start: Date.parse('2030-01-10T00:00:00Z') / 1000,
      end: Date.parse('2030-01-11T12:00:00Z') / 1000,
      retryAfter: now / 1000 + 3600,
      explanationUrl: 'https://ca.example/why',
    });
    expect(parseRenewalInfo(window, 'Tue, 01 Jan 2030 06:00:00 GMT', now)?.retryAfter).toBe(now / 1000 + 6 * 3600);
    expect(parseRenewalInfo(window, undefined, now)).not.toHaveProperty('retryAfter');
  });

  test('no window, an unreadable one, or one that ends before it starts: undefined', () => {
    expect(parseRenewalInfo({}, undefined, now)).toBeUndefined();
    expect(parseRenewalInfo(null, undefined, now)).toBeUndefined();
    expect(parseRenewalInfo({ suggestedWindow: { start: 'soon', end: '2030-01-11T12:00:00Z' } }, undefined, now)).toBeUndefined();
    expect(parseRenewalInfo({ suggestedWindow: { start: '2030-01-11T00:00:00Z', end: '2030-01-10T00:00:00Z' } }, undefined, now)).toBeUndefined();
  });
});

describeWithTools(['openssl'], "the issuer's renewalInfo() against a CA stand-in", () => {
  let dir: string;
  let server: http.Server;
  let base: string;
  let offerAri = true;
  let ariStatus = 200;
  const asked: string[] = [];
  const log = createLogger('silent');

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-ari-ca-'));
    server = http.createServer((req, res) => {
      asked.push(req.url ?? '');
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/dir') {
        res.end(JSON.stringify({ newNonce: `${base}/nonce`, ...(offerAri ? { renewalInfo: `${base}/ari/` } : {}) }));
        return;
      }
      res.writeHead(ariStatus, { 'Retry-After': '21600' });
      res.end(JSON.stringify({ suggestedWindow: { start: '2030-01-10T00:00:00Z', end: '2030-01-11T00:00:00Z' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const issuer = () =>
    createAcmeIssuer(
      { type: 'acme', directory: `${base}/dir`, keyType: 'ecdsa-p256', ca: [], challenge: { type: 'http-01', listen: { host: '127.0.0.1', port: 0 } } },
      { stateDir: dir, testMode: false },
    );

  test('GETs <renewalInfo>/<certID> and returns the window and Retry-After', async () => {
    const pem = certificate(dir, '87654321', RFC_KEY_ID);
    const info = await issuer().renewalInfo!(pem, log);
    expect(asked).toContain('/ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    expect(info).toMatchObject({ start: Date.parse('2030-01-10T00:00:00Z') / 1000, end: Date.parse('2030-01-11T00:00:00Z') / 1000 });
    expect(info!.retryAfter! - Date.now() / 1000).toBeCloseTo(21600, -1);
  });

  test('an error answer, or a directory without renewalInfo: undefined', async () => {
    const pem = certificate(dir, '87654321', RFC_KEY_ID);
    ariStatus = 500;
    await expect(issuer().renewalInfo!(pem, log)).resolves.toBeUndefined();
    ariStatus = 200;
    offerAri = false;
    asked.length = 0;
    await expect(issuer().renewalInfo!(pem, log)).resolves.toBeUndefined();
    expect(asked).toEqual(['/dir']);
  });
});
