/**
 * The ACME issuer against a real Pebble 2.4 (with pebble-challtestsrv as its DNS): http-01 standalone
 * and webroot, dns-01 through a hook script, the account key kept and reused, keys per keyType,
 * chains that verify against Pebble's root; `profile` and ARI's `replaces` seen through a recording
 * proxy (Pebble 2.4 ignores both and has no renewalInfo); and the failures: CA down, responder down,
 * 429 with Retry-After (from the proxy: Pebble cannot rate-limit on demand), port already in use.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AcmeIssuerConfig } from '../../src/config/renewal-schema';
import { ariCertId } from '../../src/renewal/ari';
import { createAcmeIssuer } from '../../src/renewal/issuers/acme';
import { accountKeyPath } from '../../src/renewal/issuers/acme-keys';
import type { IssuedPair, Issuer } from '../../src/renewal/types';
import { RenewalError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import { startAcmeProxy, type AcmeProxy } from '../helpers/acme-proxy';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { freePort } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const GROUP = { name: 'example.test', domains: ['example.test', 'conference.example.test', 'upload.example.test'] };

describeWithTools(['pebble', 'pebble-challtestsrv', 'openssl'], 'ACME issuer against Pebble', () => {
  let pebble: RunningPebble;
  let work: string;
  let root: crypto.X509Certificate;
  const issuers: Issuer[] = [];
  const logLines: string[] = [];
  const log = createLogger('debug', { write: (line: string) => void logLines.push(line) });

  beforeAll(async () => {
    pebble = await startPebble({ certificateValidityPeriod: 3600 });
    root = new crypto.X509Certificate(await pebble.roots());
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-acme-'));
  });

  afterAll(async () => {
    await Promise.all(issuers.map((i) => i.close?.() ?? Promise.resolve()));
    await pebble?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  function issuer(overrides: Partial<AcmeIssuerConfig> = {}, stateDir = path.join(work, 'state')): Issuer {
    const config: AcmeIssuerConfig = {
      type: 'acme',
      directory: pebble.directoryUrl,
      keyType: 'ecdsa-p256',
      ca: [pebble.caFile],
      challenge: { type: 'http-01', listen: { host: '127.0.0.1', port: pebble.httpPort } },
      ...overrides,
    };
    const created = createAcmeIssuer(config, { stateDir, testMode: false, email: 'admin@example.test' }, log);
    issuers.push(created);
    return created;
  }

  async function failure(promise: Promise<unknown>): Promise<RenewalError> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RenewalError);
    return err as RenewalError;
  }

  describe('issues', () => {
    const accountUrls = () =>
      logLines
        .map((l) => JSON.parse(l) as { msg: string; account?: string })
        .filter((l) => l.msg === 'ACME account ready')
        .map((l) => l.account);

    test("http-01 standalone: three names, ECDSA P-256, a chain to Pebble's root, the account key stored 0600", async () => {
      const stateDir = path.join(work, 'reuse');
      const pair = await issuer({}, stateDir).issue(GROUP, { log });
      const leaf = checkPair(pair, root);
      expect(leaf.subjectAltName?.split(', ').sort()).toEqual(GROUP.domains.map((d) => `DNS:${d}`).sort());
      expect(crypto.createPrivateKey(pair.privateKeyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(pair.notAfter.getTime()).toBe(Date.parse(leaf.validTo));
      expect(pair.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(3600_000 + 5000);

      const keyFile = accountKeyPath(stateDir, pebble.directoryUrl);
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.dirname(keyFile)).mode & 0o777).toBe(0o700);
      const key = fs.readFileSync(keyFile, 'utf8');

      // A new issuer (as after a restart) finds the key and gets the same account back.
      const again = await issuer({ keyType: 'rsa-2048' }, stateDir).issue(GROUP, { log });
      checkPair(again, root);
      const rsa = crypto.createPrivateKey(again.privateKeyPem);
      expect(rsa.asymmetricKeyType).toBe('rsa');
      expect(rsa.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(fs.readFileSync(keyFile, 'utf8')).toBe(key);
      const urls = accountUrls();
      expect(urls).toHaveLength(2);
      expect(urls[1]).toBe(urls[0]);
    });

    test('rsa-3072, and a given key (key reuse) is the one certified', async () => {
      const group = { name: 'rsa.example.test', domains: ['rsa.example.test'] };
      const rsa = await issuer({ keyType: 'rsa-3072' }).issue(group, { log });
      checkPair(rsa, root);
      expect(crypto.createPrivateKey(rsa.privateKeyPem).asymmetricKeyDetails?.modulusLength).toBe(3072);
      const again = await issuer({ keyType: 'rsa-3072' }).issue(group, { log, privateKeyPem: rsa.privateKeyPem });
      expect(again.privateKeyPem).toBe(rsa.privateKeyPem);
      expect(new crypto.X509Certificate(again.certificatePem).publicKey.export({ type: 'spki', format: 'der' })).toEqual(
        new crypto.X509Certificate(rsa.certificatePem).publicKey.export({ type: 'spki', format: 'der' }),
      );
    });

    test('http-01 webroot: token files served by another web server, removed afterwards', async () => {
      const webroot = path.join(work, 'webroot');
      const requests: string[] = [];
      const server = await serveDirectory(webroot, pebble.httpPort, requests);
      try {
        const pair = await issuer({ challenge: { type: 'http-01', webroot } }).issue({ name: 'web.example.test', domains: ['web.example.test'] }, { log });
        checkPair(pair, root);
        expect(requests.some((r) => r.startsWith('/.well-known/acme-challenge/'))).toBe(true);
        expect(fs.readdirSync(path.join(webroot, '.well-known', 'acme-challenge'))).toEqual([]);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });

    test('dns-01 through a hook: add then remove, for a name and its wildcard', async () => {
      const { hook, hookLog } = writeHook(work, pebble.challtestsrv.managementUrl);
      const group = { name: 'dns.example.test', domains: ['dns.example.test', '*.dns.example.test'] };
      const pair = await issuer({ challenge: { type: 'dns-01', hook, propagation: 0 } }).issue(group, { log });
      const leaf = checkPair(pair, root);
      expect(leaf.subjectAltName).toContain('DNS:*.dns.example.test');
      const calls = fs
        .readFileSync(hookLog, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' '));
      expect(calls.map((c) => `${c[0]} ${c[1]}`)).toEqual([
        'add _acme-challenge.dns.example.test',
        'add _acme-challenge.dns.example.test',
        'remove _acme-challenge.dns.example.test',
        'remove _acme-challenge.dns.example.test',
      ]);
      // CERTBOT_DOMAIN / CERTBOT_VALIDATION match the arguments; the value is a SHA-256 digest, base64url.
      for (const [, , value, domain, validation] of calls) {
        expect(domain).toBe('dns.example.test');
        expect(validation).toBe(value);
        expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      }
    });
  });

  describe('new-order fields and ARI, through a recording proxy', () => {
    let proxy: AcmeProxy;
    const window = { start: '2030-01-01T00:00:00Z', end: '2030-01-02T00:00:00Z' };
    beforeAll(async () => {
      proxy = await startAcmeProxy(pebble, {
        renewalInfo: () => ({ status: 200, headers: { 'Retry-After': '21600' }, body: { suggestedWindow: window } }),
        profiles: { classic: 'the default', shortlived: 'six days' },
      });
    });
    afterAll(() => proxy?.stop());

    test('profile and replaces reach the new order; renewalInfo reads the window', async () => {
      const ca = issuer({ directory: proxy.directoryUrl, profile: 'shortlived' });
      const group = { name: 'ari.example.test', domains: ['ari.example.test'] };
      const first = await ca.issue(group, { log });
      const second = await ca.issue(group, { log, replacing: first.certificatePem });
      checkPair(second, root);
      const orders = proxy.seen.filter((s) => s.method === 'POST' && s.path === '/order-plz').map((s) => s.payload as Record<string, unknown>);
      expect(orders).toHaveLength(2);
      expect(orders[0]).toMatchObject({ profile: 'shortlived' });
      expect(orders[0]).not.toHaveProperty('replaces');
      expect(orders[1]).toMatchObject({ profile: 'shortlived', replaces: ariCertId(first.certificatePem) });

      const info = await ca.renewalInfo!(second.certificatePem, log);
      expect(info).toMatchObject({ start: Date.parse(window.start) / 1000, end: Date.parse(window.end) / 1000 });
      expect(info!.retryAfter! - Date.now() / 1000).toBeCloseTo(21600, -1);
      expect(proxy.seen.some((s) => s.path === `/renewal-info/${ariCertId(second.certificatePem)}`)).toBe(true);
    });

    test('a profile the CA does not offer: reason config, naming what it offers, nothing ordered', async () => {
      const before = proxy.seen.filter((s) => s.path === '/order-plz').length;
      const err = await failure(
        issuer({ directory: proxy.directoryUrl, profile: 'tlsserver' }).issue({ name: 'p.example.test', domains: ['p.example.test'] }, { log }),
      );
      expect(err.reason).toBe('config');
      expect(err.message).toContain('"tlsserver" is not offered');
      expect(err.message).toContain('offers only classic, shortlived');
      expect(proxy.seen.filter((s) => s.path === '/order-plz')).toHaveLength(before);
    });

    test('Pebble itself offers no profiles: a configured profile is refused with a clear error', async () => {
      const err = await failure(issuer({ profile: 'shortlived' }).issue({ name: 'np.example.test', domains: ['np.example.test'] }, { log }));
      expect(err.reason).toBe('config');
      expect(err.message).toContain('offers no profiles (its directory has no meta.profiles)');
    });

    test('Pebble itself offers no renewalInfo: undefined', async () => {
      const pair = await issuer().issue({ name: 'noari.example.test', domains: ['noari.example.test'] }, { log });
      await expect(issuer().renewalInfo!(pair.certificatePem, log)).resolves.toBeUndefined();
    });
  });

  describe('failures', () => {
    test('CA not running: connection, naming the domain', async () => {
      const port = await freePort();
      const err = await failure(
        issuer({ directory: `https://127.0.0.1:${port}/dir` }).issue({ name: 'down.example.test', domains: ['down.example.test'] }, { log }),
      );
      expect(err.reason).toBe('connection');
      expect(err.domain).toBe('down.example.test');
      expect(err.message).toContain('down.example.test');
      expect(err.message).toContain('ECONNREFUSED');
    });

    test("each issuer has its own trust: one without Pebble's CA fails TLS while one with it issues", async () => {
      const untrusting = issuer({ ca: [] }).issue({ name: 'tls.example.test', domains: ['tls.example.test'] }, { log });
      const trusting = issuer().issue({ name: 'trusted.example.test', domains: ['trusted.example.test'] }, { log });
      const [err, pair] = await Promise.all([failure(untrusting), trusting]);
      expect(err.reason).toBe('connection');
      expect(err.message).toContain('tls.example.test');
      checkPair(pair, root);
    });

    test('nothing answers on the validation port: validation, with the domain and http-01', async () => {
      const webroot = path.join(work, 'unserved');
      const err = await failure(
        issuer({ challenge: { type: 'http-01', webroot } }).issue({ name: 'nobody.example.test', domains: ['nobody.example.test'] }, { log }),
      );
      expect(err.reason).toBe('validation');
      expect(err.domain).toBe('nobody.example.test');
      expect(err.details.challenge).toBe('http-01');
      expect(err.message).toMatch(/nobody\.example\.test.*http-01/);
      expect(fs.readdirSync(path.join(webroot, '.well-known', 'acme-challenge'))).toEqual([]);
    });

    test('429 with Retry-After: rate_limited with retryAfter, asked once (no retry by acme-client)', async () => {
      const proxy = await startAcmeProxy(pebble, {
        fault: (s) =>
          s.method === 'POST' && s.path === '/order-plz'
            ? {
                status: 429,
                headers: { 'Retry-After': '120', 'Content-Type': 'application/problem+json' },
                body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many new orders' },
              }
            : undefined,
      });
      try {
        const started = Date.now() / 1000;
        const err = await failure(
          issuer({ directory: proxy.directoryUrl }).issue({ name: 'busy-ca.example.test', domains: ['busy-ca.example.test'] }, { log }),
        );
        expect(err.reason).toBe('rate_limited');
        expect(err.details.retryAfter).toBeGreaterThanOrEqual(Math.floor(started) + 120);
        expect(err.details.retryAfter).toBeLessThanOrEqual(Date.now() / 1000 + 121);
        expect(err.message).toContain('busy-ca.example.test');
        expect(proxy.seen.filter((s) => s.path === '/order-plz')).toHaveLength(1);
      } finally {
        await proxy.stop();
      }
    });

    test('the http-01 port is taken: challenge_setup naming the address', async () => {
      const taken = net.createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const { port } = taken.address() as net.AddressInfo;
      try {
        const err = await failure(
          issuer({ challenge: { type: 'http-01', listen: { host: '127.0.0.1', port } } }).issue(
            { name: 'taken.example.test', domains: ['taken.example.test'] },
            { log },
          ),
        );
        expect(err.reason).toBe('challenge_setup');
        expect(err.message).toContain(`127.0.0.1:${port}`);
        expect(err.message).toContain('webroot');
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    });
  });
});

/** Leaf and chain parse, the key matches, and each certificate is signed by the next, up to `root`. */
function checkPair(pair: IssuedPair, root: crypto.X509Certificate): crypto.X509Certificate {
  const certs = pair.certificatePem
    .split(/(?<=-----END CERTIFICATE-----)\s*/)
    .filter((p) => p.includes('BEGIN'))
    .map((p) => new crypto.X509Certificate(p));
  expect(pair.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  const leaf = certs[0]!;
  expect(leaf.checkPrivateKey(crypto.createPrivateKey(pair.privateKeyPem))).toBe(true);
  const path = [...certs, root];
  for (let i = 0; i + 1 < path.length; i++) {
    expect(path[i]!.checkIssued(path[i + 1]!)).toBe(true);
    expect(path[i]!.verify(path[i + 1]!.publicKey)).toBe(true);
  }
  return leaf;
}

/** A tiny static file server standing in for the operator's web server. */
async function serveDirectory(dir: string, port: number, requests: string[]): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const file = path.join(dir, path.normalize(req.url ?? '/'));
    fs.readFile(file, (err, data) => {
      res.writeHead(err ? 404 : 200, { 'Content-Type': 'text/plain' });
      res.end(err ? 'not found' : data);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** A node script as the dns-01 hook: logs its call, then sets or clears the TXT record at challtestsrv. */
function writeHook(dir: string, managementUrl: string): { hook: string[]; hookLog: string } {
  const script = path.join(dir, 'dns-hook.js');
  const hookLog = path.join(dir, 'dns-hook.log');
  fs.writeFileSync(
    script,
    `
const fs = require('node:fs');
const http = require('node:http');
const [, , url, logFile, action, name, value] = process.argv;
fs.appendFileSync(logFile, [action, name, value, process.env.CERTBOT_DOMAIN, process.env.CERTBOT_VALIDATION].join(' ') + '\\n');
const req = http.request(url + (action === 'add' ? '/set-txt' : '/clear-txt'), { method: 'POST' }, (res) => {
  res.resume();
  res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 1));
});
req.end(JSON.stringify({ host: name + '.', value }));
`,
  );
  return { hook: [process.execPath, script, managementUrl, hookLog], hookLog };
}
