/**
 * End to end with real parts: Debian's Prosody serves example.test and two Components with a
 * CA-issued certificate that is due (5 of 90 days left); `xmpp-cert run` (exporter + worker) reads
 * prosody.cfg.lua, renews the group of three names from a real Pebble through its own http-01
 * responder, installs the pair (key 0600), sends Prosody SIGHUP through its pidfile, and verifies
 * the new certificate is served. Then /metrics, the state file and a probe of our own agree.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { probeEndpoint } from '../../src/sources/probe';
import { DAY, makeCA, mint } from '../helpers/certs';
import { parseMetrics, value } from '../helpers/metrics-text';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { runCli, startCli, waitFor, type Running } from '../helpers/process';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const NAMES = ['example.test', 'conference.example.test', 'upload.example.test'];

describeWithTools(['prosody', 'pebble', 'pebble-challtestsrv', 'openssl'], 'renewal end to end: Prosody + Pebble + xmpp-cert run', () => {
  jest.setTimeout(90_000);
  let pebble: RunningPebble;
  let prosody: RunningProsody;
  let run: Running | undefined;
  let oldSerial: string;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-e2e-'));

  beforeAll(async () => {
    pebble = await startPebble();
    const ca = await makeCA('Old CA');
    const old = await mint({ names: NAMES, notBefore: -85 * DAY, notAfter: 5 * DAY, issuer: ca });
    oldSerial = new crypto.X509Certificate(old.pem).serialNumber;
    prosody = await startProsody({
      hosts: ['example.test'],
      components: { 'conference.example.test': 'muc', 'upload.example.test': 'muc' },
      writeCerts: (certs) => {
        // A real directory, as an operator (or certbot's deploy hook) left it: the worker migrates it.
        fs.mkdirSync(path.join(certs, 'example.test'));
        fs.writeFileSync(path.join(certs, 'example.test', 'fullchain.pem'), old.pem + ca.pem);
        fs.writeFileSync(path.join(certs, 'example.test', 'privkey.pem'), old.keyPem, { mode: 0o600 });
      },
    });
    const endpoint = (domain: string, port: number, service: string) => ({ domain, host: '127.0.0.1', port, service });
    const config = {
      prosody: { config: path.join(prosody.dir, 'prosody.cfg.lua') },
      scan: { interval: '2s' },
      probes: {
        srv: false,
        interval: '10s',
        timeout: '5s',
        endpoints: [endpoint('example.test', prosody.ports.c2s, 'c2s'), ...NAMES.map((n) => endpoint(n, prosody.ports.s2s, 's2s'))],
      },
      server: { listen: '127.0.0.1:0' },
      renewal: {
        stateDir: path.join(root, 'state'),
        jitter: 0,
        retry: { count: 1 },
        issuers: [
          { type: 'acme', directory: pebble.directoryUrl, ca: [pebble.caFile], challenge: { type: 'http-01', listen: `127.0.0.1:${pebble.httpPort}` } },
        ],
        reload: { signal: 'HUP', pidfile: path.join(prosody.dir, 'prosody.pid') },
        verify: { timeout: '20s' },
      },
    };
    fs.writeFileSync(path.join(root, 'xmpp-cert.yml'), JSON.stringify(config));
  });

  afterAll(async () => {
    await run?.stop();
    await prosody?.stop();
    await pebble?.stop();
  });

  test('the due group is renewed, installed 0600, reloaded, served and counted once', async () => {
    run = await startCli(['run', '--config', path.join(root, 'xmpp-cert.yml')]);
    const metrics = await waitFor(
      async () => {
        const samples = parseMetrics(await (await fetch(`${run!.url}/metrics`)).text());
        return value(samples, 'xmpp_cert_renewal_attempts_total', { domain: 'example.test', result: 'success' }) === 1 && samples;
      },
      60_000,
      'one renewal success in /metrics',
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${run!.output()}\n${prosody.log().slice(-3000)}`);
    });
    expect(value(metrics, 'xmpp_cert_renewal_verify_success', { domain: 'example.test', result: 'served' })).toBe(1);
    expect(value(metrics, 'xmpp_cert_renewal_fallback_in_use', { domain: 'example.test' })).toBe(0);
    expect(value(metrics, 'xmpp_cert_renewal_attempts_total', { domain: 'example.test', result: 'failure', reason: 'validation' })).toBe(0);
    expect(value(metrics, 'xmpp_cert_worker_heartbeat_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 120);

    const dir = path.join(prosody.certs, 'example.test');
    const chainPem = fs.readFileSync(path.join(dir, 'fullchain.pem'), 'utf8');
    const leaf = new crypto.X509Certificate(chainPem);
    expect(leaf.serialNumber).not.toBe(oldSerial);
    expect(leaf.subjectAltName?.split(', ').sort()).toEqual(NAMES.map((n) => `DNS:${n}`).sort());
    expect(leaf.verify((await pebbleIssuer(pebble)).publicKey)).toBe(true);
    expect(fs.statSync(path.join(dir, 'privkey.pem')).mode & 0o777).toBe(0o600);
    const key = crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'privkey.pem')));
    expect(crypto.createPublicKey(key).export({ format: 'der', type: 'spki' })).toEqual(leaf.publicKey.export({ format: 'der', type: 'spki' }));

    // What Prosody serves now, seen by a probe of the test's own, for the host and a Component.
    for (const [domain, port, module] of [
      ['example.test', prosody.ports.c2s, 'c2s'],
      ['conference.example.test', prosody.ports.s2s, 's2s'],
    ] as const) {
      const served = await probeEndpoint({ domain, host: '127.0.0.1', port, module }, { timeoutMs: 5000 });
      expect(served.ok && new crypto.X509Certificate(served.chain[0]!).serialNumber).toBe(leaf.serialNumber);
    }

    const state = JSON.parse(fs.readFileSync(path.join(root, 'state', 'state.json'), 'utf8'));
    expect(state.groups['example.test']).toMatchObject({ domains: NAMES, successes: 1, consecutiveFailures: 0, fallback: false, verify: { result: 'served' } });
    // The old pair was kept as a backup, not overwritten.
    const backups = fs.readdirSync(path.join(prosody.certs, '.xmpp-cert', 'example.test'));
    const kept = backups.map((b) => fs.readFileSync(path.join(prosody.certs, '.xmpp-cert', 'example.test', b, 'fullchain.pem'), 'utf8'));
    expect(kept.some((pem) => new crypto.X509Certificate(pem).serialNumber === oldSerial)).toBe(true);
    expect(run.output()).toMatch(/example\.test: due: past the renewal point/);
  });

  test('without a reload, Prosody keeps the previous certificate: verify fails and says so', async () => {
    await run?.stop();
    const file = path.join(root, 'xmpp-cert.yml');
    const config = JSON.parse(fs.readFileSync(file, 'utf8'));
    config.renewal.reload = null;
    config.renewal.verify = { timeout: '3s' };
    fs.writeFileSync(file, JSON.stringify(config));
    const result = runCli(['renew', 'conference.example.test', '--force', '--config', file]);
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/example\.test: forced renewal/);
    expect(result.stdout).toMatch(/verify: mismatch: still serving the previous certificate after 3s: .*127\.0\.0\.1/);
    const state = JSON.parse(fs.readFileSync(path.join(root, 'state', 'state.json'), 'utf8'));
    expect(state.groups['example.test']).toMatchObject({ successes: 1, failures: { verify: 1 }, lastReason: 'verify', verify: { result: 'mismatch' } });
  });
});

/** Pebble's intermediate signs the leaves (its root only the intermediate). */
async function pebbleIssuer(pebble: RunningPebble): Promise<crypto.X509Certificate> {
  return new crypto.X509Certificate(await pebble.intermediates());
}
