/**
 * The worker against a real Pebble when things go wrong: each fault leaves the old valid pair
 * untouched (or, for a failed reload, the new pair installed) and is counted under its reason in
 * the state file. The fallback rule: no certificate and no CA gives a self-signed one, a valid CA
 * certificate is kept whatever fails, and the next successful run replaces the self-signed one.
 * Two `renew` processes at once: one renews, the other waits for the lock and finds nothing due.
 * The 429 comes from a proxy in front of Pebble: a real Pebble cannot rate-limit on demand.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/shared/log';
import { Worker } from '../../src/processes/worker';
import type { WorkerState } from '../../src/state/state-types';
import { startAcmeProxy } from '../helpers/acme-proxy';
import { DAY, makeCA, mint } from '../helpers/certs';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { CLI } from '../helpers/process';
import { freePort } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const DOMAIN = 'example.test';

describeWithTools(['pebble', 'pebble-challtestsrv', 'openssl'], 'renewal faults and fallback against Pebble', () => {
  jest.setTimeout(60_000);
  let pebble: RunningPebble;
  beforeAll(async () => {
    pebble = await startPebble();
  });
  afterAll(() => pebble?.stop());

  const acme = (directory = pebble.directoryUrl, listen = `127.0.0.1:${pebble.httpPort}`) => ({
    type: 'acme',
    directory,
    ca: [pebble.caFile],
    challenge: { type: 'http-01', listen },
  });

  /** A certificate directory, a state directory and a config; `current` is the pair in place. */
  async function setup(renewal: Record<string, unknown>, current?: 'valid-ca' | 'due-ca') {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-faults-'));
    const certs = path.join(root, 'certs');
    fs.mkdirSync(certs);
    let pair: { cert: string; key: string } | undefined;
    const caFile = path.join(root, 'ca.pem'); // the old pair's CA, for a test that trusts it (probes.ca)
    if (current) {
      const ca = await makeCA();
      fs.writeFileSync(caFile, ca.pem);
      const minted = await mint({ names: [DOMAIN], notBefore: -80 * DAY, notAfter: current === 'valid-ca' ? 60 * DAY : 5 * DAY, issuer: ca });
      pair = { cert: minted.pem + ca.pem, key: minted.keyPem };
      fs.mkdirSync(path.join(certs, DOMAIN));
      fs.writeFileSync(path.join(certs, DOMAIN, 'fullchain.pem'), pair.cert);
      fs.writeFileSync(path.join(certs, DOMAIN, 'privkey.pem'), pair.key, { mode: 0o600 });
    }
    const config = {
      prosody: { config: null, certs },
      domains: [DOMAIN],
      probes: { enabled: false },
      renewal: { stateDir: path.join(root, 'state'), jitter: 0, retry: { count: 1, delay: 0 }, backoff: { initial: '1s', max: '2s' }, ...renewal },
    };
    const file = path.join(root, 'xmpp-cert.yml');
    fs.writeFileSync(file, JSON.stringify(config));
    const steps: string[] = [];
    const worker = () => new Worker(loadConfig({ file }), createLogger('silent'), { step: (_g, text) => steps.push(text) });
    const onDisk = () => ({
      cert: fs.readFileSync(path.join(certs, DOMAIN, 'fullchain.pem'), 'utf8'),
      key: fs.readFileSync(path.join(certs, DOMAIN, 'privkey.pem'), 'utf8'),
    });
    const state = (): WorkerState => JSON.parse(fs.readFileSync(path.join(root, 'state', 'state.json'), 'utf8'));
    return { root, certs, file, caFile, pair, steps, worker, onDisk, state };
  }

  async function renewOnce(w: Worker, options = {}) {
    try {
      return await w.renewDomain(DOMAIN, options);
    } finally {
      await w.stop();
    }
  }

  test('Pebble not running: reason connection, the domain named, the old pair untouched', async () => {
    const s = await setup({ issuers: [acme(`https://127.0.0.1:${await freePort()}/dir`)] }, 'due-ca');
    const outcome = await renewOnce(s.worker());
    expect(outcome.result).toBe('failed');
    expect(outcome.error?.reason).toBe('connection');
    expect(outcome.error?.message).toContain(DOMAIN);
    expect(s.onDisk()).toEqual(s.pair);
    expect(s.state().groups[DOMAIN]).toMatchObject({ failures: { connection: 1 }, consecutiveFailures: 1, successes: 0 });
  });

  test('a challenge that fails (nothing answers on the validation port): reason validation, domain and challenge kept', async () => {
    const s = await setup({ issuers: [acme(undefined, `127.0.0.1:${await freePort()}`)] }, 'due-ca');
    const outcome = await renewOnce(s.worker());
    expect(outcome.error?.reason).toBe('validation');
    expect(outcome.error?.message).toContain(DOMAIN);
    expect(s.onDisk()).toEqual(s.pair);
    expect(s.state().groups[DOMAIN]).toMatchObject({ failures: { validation: 1 }, lastFailureDomain: DOMAIN, lastFailureChallenge: 'http-01' });
  });

  test('429 with Retry-After: counted as rate_limited, and the next run does not ask before it', async () => {
    const proxy = await startAcmeProxy(pebble, {
      // Pebble's newOrder URL is /order-plz.
      fault: (seen) =>
        seen.path === '/order-plz'
          ? {
              status: 429,
              headers: { 'Retry-After': '120', 'Content-Type': 'application/problem+json' },
              body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many new orders' },
            }
          : undefined,
    });
    try {
      const s = await setup({ issuers: [acme(proxy.directoryUrl)], retry: { count: 3, delay: 0 } }, 'due-ca');
      const started = Date.now() / 1000;
      const outcome = await renewOnce(s.worker());
      expect(outcome.error?.reason).toBe('rate_limited');
      const orders = () => proxy.seen.filter((r) => r.path === '/order-plz').length;
      expect(orders()).toBe(1); // neither acme-client nor our retry loop asked again
      const group = s.state().groups[DOMAIN]!;
      expect(group.failures.rate_limited).toBe(1);
      expect(group.nextAttempt).toBeGreaterThanOrEqual(started + 119);
      const again = await renewOnce(s.worker());
      expect(again.result).toBe('waiting');
      expect(orders()).toBe(1);
      expect(s.onDisk()).toEqual(s.pair);
    } finally {
      await proxy.stop();
    }
  });

  test('a write that fails during install: reason install, the old pair intact, no temp file left', async () => {
    const s = await setup({ issuers: [acme()] }, 'due-ca');
    // A file where the worker keeps its generations: every write below it fails (ENOTDIR), as on a broken volume.
    fs.writeFileSync(path.join(s.certs, '.xmpp-cert'), 'not a directory');
    const outcome = await renewOnce(s.worker());
    expect(outcome.error?.reason).toBe('install');
    expect(outcome.error?.message).toMatch(/writable|directory/);
    expect(s.onDisk()).toEqual(s.pair);
    expect(fs.readdirSync(s.certs).sort()).toEqual(['.xmpp-cert', DOMAIN]);
    expect(s.state().groups[DOMAIN]).toMatchObject({ failures: { install: 1 } });
  });

  test('a reload command that fails: recorded as reload, with its stderr; the new pair is installed', async () => {
    const s = await setup({ issuers: [acme()], reload: { command: ['sh', '-c', 'echo "prosodyctl: not running" >&2; exit 3'] } }, 'due-ca');
    const outcome = await renewOnce(s.worker());
    expect(outcome.error?.reason).toBe('reload');
    expect(outcome.error?.message).toMatch(/exited with 3: prosodyctl: not running/);
    expect(s.onDisk().cert).not.toEqual(s.pair!.cert);
    expect(s.state().groups[DOMAIN]).toMatchObject({ failures: { reload: 1 }, issuer: expect.any(String) });
  });

  test('fallback: no certificate and no CA gives a self-signed one; the next successful run replaces it', async () => {
    const down = acme(`https://127.0.0.1:${await freePort()}/dir`);
    const s = await setup({ issuers: [down, { type: 'selfsigned', lifetime: '7d' }] });
    const first = await renewOnce(s.worker());
    expect(first.result).toBe('fallback');
    const selfSigned = new crypto.X509Certificate(s.onDisk().cert);
    expect(selfSigned.issuer).toBe(selfSigned.subject);
    expect(s.state().groups[DOMAIN]).toMatchObject({ fallback: true, failures: { connection: 1 } });

    // The CA is back (the same config with Pebble's directory); the backoff (1s) has passed.
    const config = JSON.parse(fs.readFileSync(s.file, 'utf8'));
    config.renewal.issuers[0] = acme();
    fs.writeFileSync(s.file, JSON.stringify(config));
    await new Promise((r) => setTimeout(r, 1100));
    const second = await renewOnce(s.worker());
    expect(second.result).toBe('renewed');
    expect(second.decision?.reason).toBe('self_signed');
    const issued = new crypto.X509Certificate(s.onDisk().cert);
    expect(issued.issuer).toMatch(/Pebble/);
    expect(s.state().groups[DOMAIN]).toMatchObject({ fallback: false, successes: 1, consecutiveFailures: 0 });
  });

  test('fallback never replaces a valid CA certificate, whatever fails', async () => {
    const down = acme(`https://127.0.0.1:${await freePort()}/dir`);
    const s = await setup({ issuers: [down, { type: 'selfsigned' }] }, 'due-ca');
    // Valid and trusted: it verifies against probes.ca (one that verifies nowhere counts as nothing better).
    const config = JSON.parse(fs.readFileSync(s.file, 'utf8'));
    config.probes.ca = [s.caFile];
    fs.writeFileSync(s.file, JSON.stringify(config));
    const outcome = await renewOnce(s.worker());
    expect(outcome.result).toBe('failed');
    expect(s.onDisk()).toEqual(s.pair);
    expect(s.steps.join('\n')).toMatch(/never replaced by a self-signed one/);
    expect(s.state().groups[DOMAIN]).toMatchObject({ fallback: false });
  });

  test('two renew processes at once: one renews, the other waits for the lock and finds nothing due', async () => {
    const s = await setup({ issuers: [acme()] }, 'due-ca');
    const runs = await Promise.all([0, 1].map(() => runRenew(s.file)));
    const outputs = runs.map((r) => r.output).join('\n---\n');
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    expect(runs.filter((r) => /issued by/.test(r.output))).toHaveLength(1);
    expect(runs.filter((r) => /not due/.test(r.output))).toHaveLength(1);
    expect(s.state().groups[DOMAIN]).toMatchObject({ successes: 1 });
    expect(outputs).not.toMatch(/failed/);
  });
});

function runRenew(configFile: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'renew', DOMAIN, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}
