/**
 * Issue 13 "never worse", points 5, 8 and 10, against a real Pebble and a real Prosody:
 * - a reload that fails leaves the new pair installed and the reload pending (state,
 *   xmpp_cert_renewal_reload_pending 1, no stale "served"); the next check after the backoff
 *   reloads again and Prosody serves the new certificate;
 * - served != installed after the verify window: reloaded once more (bounded), then served;
 * - verify says what it probes and for how long, and an endpoint whose host does not exist ends it
 *   early (unreachable) instead of being polled for the whole window;
 * - signals, with real processes: SIGTERM during a retry delay, SIGINT during a backoff wait, SIGTERM
 *   to a one-shot `renew` in a retry delay: no new attempt, exit within 10 s; SIGTERM while an
 *   install runs: the install and its reload finish first, Prosody serves the new pair.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { createRenewalGauges } from '../../src/metrics/renewal-gauges';
import { parseMetrics, value } from '../helpers/metrics-text';
import { keyMatches, readLive } from '../helpers/pairs';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { waitFor } from '../helpers/process';
import { freePort, startProsody, type RunningProsody } from '../helpers/prosody-server';
import { acmeIssuer, cliStart, scenario, withWorker, type CliProcess } from '../helpers/renewal-setup';
import { describeWithTools } from '../helpers/tools';

const HOSTS = ['reload', 'again', 'unreach', 'sig1', 'sig2'].map((h) => `${h}.example.test`);

async function renewalMetrics(stateDir: string) {
  const registry = new Registry();
  createRenewalGauges(registry, () => stateDir).refresh();
  return parseMetrics(await registry.metrics());
}

/** Waits for a line of the process's output, then sends `signal`; resolves with the exit and how long it took. */
async function signalAfter(run: CliProcess, line: RegExp, signal: NodeJS.Signals) {
  await waitFor(() => line.test(run.output()), 20_000, `${line}`).catch((err: Error) => {
    run.child.kill('SIGKILL');
    throw new Error(`${err.message}\n${run.output()}`);
  });
  const sent = Date.now();
  run.child.kill(signal);
  const exit = await run.exited;
  return { ...exit, seconds: (Date.now() - sent) / 1000, out: run.output() };
}

describeWithTools(['prosody', 'pebble', 'pebble-challtestsrv', 'openssl'], 'reload until served, verify, signals (Pebble, Prosody)', () => {
  jest.setTimeout(60_000);
  let pebble: RunningPebble;
  let prosody: RunningProsody;
  let pidfile: string;

  beforeAll(async () => {
    [pebble, prosody] = await Promise.all([startPebble(), startProsody({ hosts: HOSTS, writeCerts: () => undefined })]);
    pidfile = path.join(prosody.dir, 'prosody.pid');
  });
  afterAll(() => Promise.all([prosody?.stop(), pebble?.stop()]));

  test('a failed reload: installed, reload pending, no stale verify result; the next check after the backoff reloads and it is served', async () => {
    const name = 'reload.example.test';
    const flag = path.join(prosody.dir, 'reload-fails');
    const command = ['sh', '-c', `if [ -e ${flag} ]; then echo "prosodyctl: Prosody is not running" >&2; exit 1; fi; kill -HUP $(cat ${pidfile})`];
    const s = scenario(pebble, prosody, [name], { reload: { command } });
    await withWorker(s.worker(), (w) => w.check());
    expect(s.group(name)).toMatchObject({ successes: 1, verify: { result: 'served' } });
    const old = s.onDisk(name);

    fs.writeFileSync(flag, '');
    const failed = await withWorker(s.worker(), (w) => w.renewDomain(name, { force: true }));
    expect(failed).toMatchObject({ result: 'failed', error: { reason: 'reload' } });
    expect(failed.error!.message).toMatch(/exited with 1: prosodyctl: Prosody is not running/);
    expect(s.onDisk(name)).not.toBe(old); // installed ...
    expect(await s.served(name)).toBe(old); // ... but not served
    const pending = s.group(name);
    expect(pending.reloadPending).toMatchObject({ attempts: 1, error: expect.stringMatching(/reload command/) });
    expect(pending.verify).toBeUndefined(); // the earlier "served" said nothing about this certificate
    let metrics = await renewalMetrics(s.stateDir);
    expect(value(metrics, 'xmpp_cert_renewal_reload_pending', { domain: name })).toBe(1);
    expect(value(metrics, 'xmpp_cert_renewal_verify_success', { domain: name, result: 'served' })).toBeUndefined();
    expect(value(metrics, 'xmpp_cert_renewal_attempts_total', { domain: name, result: 'failure', reason: 'reload' })).toBe(1);

    // Prosody is back; the backoff (1 s) passes; an ordinary check, nothing forced, reloads.
    fs.rmSync(flag);
    await waitFor(() => Date.now() / 1000 >= pending.reloadPending!.nextAttempt, 5000, 'the backoff');
    const [retried] = await withWorker(s.worker(), (w) => w.check());
    expect(retried).toMatchObject({ result: 'not_due' });
    expect(s.steps).toContainEqual(
      expect.stringMatching(/reload\.example\.test: the new certificate is installed but not reloaded since .* \(1 failed\): reloading again/),
    );
    expect(await s.served(name)).toBe(s.onDisk(name));
    expect(s.group(name).reloadPending).toBeUndefined();
    expect(s.group(name).verify).toMatchObject({ result: 'served' });
    metrics = await renewalMetrics(s.stateDir);
    expect(value(metrics, 'xmpp_cert_renewal_reload_pending', { domain: name })).toBe(0);
    expect(value(metrics, 'xmpp_cert_renewal_verify_success', { domain: name, result: 'served' })).toBe(1);
  });

  test('the old certificate still served after the verify window: reloaded once more, then served', async () => {
    const name = 'again.example.test';
    const counter = path.join(prosody.dir, 'reloads');
    // A reload that reaches Prosody only from its second call on (a lost signal, say).
    const command = [
      'sh',
      '-c',
      `n=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 )); echo $n > ${counter}; [ $n -ge 2 ] && kill -HUP $(cat ${pidfile}); exit 0`,
    ];
    const s = scenario(pebble, prosody, [name], { reload: { command }, verify: { timeout: '2s' } });
    fs.writeFileSync(counter, '5');
    await withWorker(s.worker(), (w) => w.check()); // the first certificate, served
    fs.writeFileSync(counter, '0');
    const outcome = await withWorker(s.worker(), (w) => w.renewDomain(name, { force: true }));
    expect(outcome).toMatchObject({ result: 'renewed', verify: { result: 'served' } });
    expect(fs.readFileSync(counter, 'utf8').trim()).toBe('2');
    const tail = s.steps.slice(s.steps.findIndex((t) => t.endsWith('forced renewal')));
    expect(tail).toContainEqual(expect.stringMatching(/verify: mismatch: still serving the previous certificate after 2s: c2s 127\.0\.0\.1:\d+/));
    expect(tail).toContainEqual(expect.stringMatching(/reloading once more: ran sh -c/));
    expect(await s.served(name)).toBe(s.onDisk(name));
  });

  test('verify says what it probes; a host that does not exist ends it early as unreachable', async () => {
    const name = 'unreach.example.test';
    const s = scenario(pebble, prosody, [name], { verify: { timeout: '60s' } });
    s.edit((c) => c.probes.endpoints.push({ domain: name, host: 'no-such-host.invalid', port: 5222, service: 'c2s' }));
    const started = Date.now();
    const outcome = await withWorker(s.worker(), (w) => w.renewDomain(name, {}));
    expect((Date.now() - started) / 1000).toBeLessThan(20);
    expect(outcome).toMatchObject({ result: 'renewed', verify: { result: 'unreachable' } });
    expect(outcome.verify!.detail).toMatch(
      /could not probe c2s no-such-host\.invalid:5222 \(no such host: not polled for the whole window\): no-such-host\.invalid has no AAAA or A record/,
    );
    expect(s.steps).toContainEqual(
      expect.stringMatching(
        /^unreach\.example\.test: verify: probing 2 endpoints \(c2s 127\.0\.0\.1:\d+, c2s no-such-host\.invalid:5222\) for the new certificate, for at most 60s$/,
      ),
    );
    expect(await s.served(name)).toBe(s.onDisk(name));
  });

  test('SIGTERM in a retry delay, SIGINT in a backoff wait, SIGTERM to a one-shot renew: no new attempt, out within 10 s', async () => {
    const name = 'sig1.example.test';
    const down = acmeIssuer(pebble, {}, `https://127.0.0.1:${await freePort()}/dir`);
    const s = scenario(pebble, prosody, [name], { issuers: [down], retry: { count: 3, delay: '60s' }, backoff: { initial: '1h', max: '1d' } });
    s.edit((c) => (c.logging.level = 'info')); // the worker logs its steps at info
    const args = ['--config', s.file];

    const inDelay = await signalAfter(cliStart(['worker', ...args]), /next attempt in 60s/, 'SIGTERM');
    expect(inDelay).toMatchObject({ code: 0 });
    expect(inDelay.seconds).toBeLessThan(10);
    expect(inDelay.out).not.toMatch(/attempt 2\/3/);
    expect(s.group(name)).toMatchObject({ failures: { connection: 1 }, consecutiveFailures: 1 });
    const nextAttempt = s.group(name).nextAttempt!;
    expect(nextAttempt).toBeGreaterThan(Date.now() / 1000 + 3000); // the backoff after the failed run

    const inBackoff = await signalAfter(cliStart(['worker', ...args]), /next renewal check at/, 'SIGINT');
    expect(inBackoff.out).toMatch(/due \(missing\) but waiting until/);
    expect(inBackoff).toMatchObject({ code: 0 });
    expect(inBackoff.seconds).toBeLessThan(10);
    expect(s.group(name)).toMatchObject({ failures: { connection: 1 }, nextAttempt });

    const oneShot = await signalAfter(cliStart(['renew', name, '--force', ...args]), /next attempt in 60s/, 'SIGTERM');
    expect(oneShot.code).toBe(1);
    expect(oneShot.seconds).toBeLessThan(10);
    expect(oneShot.out).toMatch(/SIGTERM: stopping/);
    expect(oneShot.out).not.toMatch(/attempt 2\/3/);
    expect(s.group(name).failures.connection).toBe(2);
    expect(fs.existsSync(path.join(prosody.certs, name))).toBe(false);
  });

  test('SIGTERM while an install runs: the install and its reload finish first; Prosody serves the new pair', async () => {
    const name = 'sig2.example.test';
    const command = ['sh', '-c', `sleep 2; kill -HUP $(cat ${pidfile})`];
    const s = scenario(pebble, prosody, [name], { reload: { command } });
    const run = await signalAfter(cliStart(['renew', name, '--config', s.file]), /: installed /, 'SIGTERM');
    expect(run.out).toMatch(/SIGTERM: stopping/);
    expect(run.out).toMatch(/ran sh -c sleep 2/);
    expect(run.code).toBe(1);
    expect(run.seconds).toBeGreaterThan(1); // it waited for the reload
    const live = readLive(prosody.certs, name);
    expect(keyMatches(live.certificatePem, live.privateKeyPem)).toBe(true);
    expect(s.group(name)).toMatchObject({ issuer: expect.any(String) });
    expect(await s.served(name)).toBe(s.onDisk(name));
  });
});
