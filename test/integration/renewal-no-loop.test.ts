/**
 * Issue 13 "never worse", points 4, 7, 9 and 12, against a real Pebble issuing 3-minute
 * certificates and a real Prosody serving them:
 * - the reported loop: the seed's CERT_RENEWAL_THRESHOLD=30 (days) with 3-minute certificates ordered
 *   a new certificate at every wake (8 in 10 s before this change); now the renewal point is capped
 *   at half the lifetime, once warned, and `config check` says so;
 * - a CA whose ARI window always lies in the past (through a proxy: Pebble 2.4 has no ARI) makes
 *   every new certificate due at once: the spacing rule holds the group back, visibly;
 * - ARI and a threshold: the earlier of the two wins;
 * - renewal.maxOrdersPerHour: the excess waits (held back, order_cap), also when forced;
 * - a corrupt state file with three groups renewing at once: set aside once, no group fails;
 * - names: `renew NAME` refuses unwatched names, `--issuer` an unknown issuer, and no issuer at all
 *   means nothing is ordered.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { createRenewalGauges } from '../../src/metrics/renewal-gauges';
import { startAcmeProxy, type AcmeProxy } from '../helpers/acme-proxy';
import { parseMetrics, value } from '../helpers/metrics-text';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { waitFor } from '../helpers/process';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { acmeIssuer, cliStart, scenario, withWorker } from '../helpers/renewal-setup';
import { describeWithTools } from '../helpers/tools';

const LIFETIME = 180;
const HOSTS = ['loop', 'ari', 'cap1', 'cap2', 'cap3', 'c1', 'c2', 'c3', 'none'].map((h) => `${h}.example.test`);

/** The xmpp_cert_renewal_* families as /metrics renders them from this state directory. */
async function renewalMetrics(stateDir: string) {
  const registry = new Registry();
  createRenewalGauges(registry, () => stateDir).refresh();
  return parseMetrics(await registry.metrics());
}

describeWithTools(['prosody', 'pebble', 'pebble-challtestsrv', 'openssl'], 'renewal never loops (Pebble 3-minute certificates, Prosody)', () => {
  jest.setTimeout(60_000);
  let pebble: RunningPebble;
  let prosody: RunningProsody;
  let proxy: AcmeProxy;
  /** What the proxy's renewalInfo answers, Unix seconds. */
  let window = { start: 0, end: 0 };

  beforeAll(async () => {
    [pebble, prosody] = await Promise.all([startPebble({ certificateValidityPeriod: LIFETIME }), startProsody({ hosts: HOSTS, writeCerts: () => undefined })]);
    const iso = (s: number) => new Date(s * 1000).toISOString();
    proxy = await startAcmeProxy(pebble, {
      renewalInfo: () => ({ status: 200, body: { suggestedWindow: { start: iso(window.start), end: iso(window.end) } } }),
    });
  });
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([prosody?.stop(), pebble?.stop()]);
  });

  test('CERT_RENEWAL_THRESHOLD=30 with 3-minute certificates: one order, the renewal point capped at half the lifetime, warned once', async () => {
    const s = scenario(pebble, prosody, ['loop.example.test']);
    const env = { CERT_RENEWAL_THRESHOLD: '30' };
    await withWorker(s.worker(env), async (w) => {
      await w.start(); // the start-up check orders the missing certificate, then schedules the next check
      await new Promise((r) => setTimeout(r, 3000)); // before this change: ~3 more orders by now
      for (let i = 0; i < 3; i++) expect((await w.check())[0]).toMatchObject({ result: 'not_due', decision: { reason: 'threshold' } });
    });
    const g = s.group('loop.example.test');
    expect(g).toMatchObject({ successes: 1, verify: { result: 'served' } });
    expect(s.steps.filter((t) => /issued by/.test(t))).toHaveLength(1);
    expect(s.steps.filter((t) => /warning: thresholds\.renewal \(30d before expiry\) is at or above the certificate's lifetime/.test(t))).toHaveLength(1);
    // The renewal point: half the lifetime before expiry, after the issuance.
    const point = s.steps.find((t) => /not due: renewal point/.test(t))!;
    const at = Date.parse(/renewal point (\S+)/.exec(point)![1]!) / 1000;
    expect(at).toBeCloseTo(g.notAfter! - LIFETIME / 2, -1);
    expect(at).toBeGreaterThan(g.lastIssued!);
    expect(await s.served('loop.example.test')).toBe(s.onDisk('loop.example.test'));

    const check = await s.cli(['config', 'check'], env);
    expect(check.code).toBe(0);
    expect(check.out).toMatch(
      /warning: thresholds\.renewal for loop\.example\.test \(30d before expiry\) is at or above the lifetime of its certificate .*fullchain\.pem \(1[78]\ds\): the worker renews at half the lifetime instead/,
    );
  });

  test('an ARI window always in the past: the spacing rule holds the group back; only --force orders again', async () => {
    const s = scenario(pebble, prosody, ['ari.example.test'], { issuers: [acmeIssuer(pebble, {}, proxy.directoryUrl)], minSpacing: '1h' });
    const now = Date.now() / 1000;
    window = { start: now - 7200, end: now - 3600 };
    const orders = () => proxy.seen.filter((r) => r.path === '/order-plz').length;
    const before = orders();
    await withWorker(s.worker(), async (w) => {
      expect((await w.check())[0]).toMatchObject({ result: 'renewed', decision: { reason: 'missing' } });
      for (let i = 0; i < 3; i++) {
        const [held] = await w.check();
        expect(held).toMatchObject({ result: 'waiting', decision: { reason: 'ari_window', hold: { reason: 'spacing' } } });
        // Held until half the certificate's lifetime after the issuance (less than renewal.minSpacing, 1h).
        const { lastIssued, notAfter } = s.group('ari.example.test');
        expect(held!.nextAttempt).toBeCloseTo(lastIssued! + (notAfter! - lastIssued!) / 2, 3);
        expect(held!.nextAttempt! - lastIssued!).toBeLessThan(LIFETIME / 2 + 1);
      }
    });
    expect(orders() - before).toBe(1);
    expect(s.group('ari.example.test').heldBack).toMatchObject({ reason: 'spacing' });
    expect(s.steps.some((t) => /held back until .*renewal\.minSpacing.*suggests a loop/.test(t))).toBe(true);
    let metrics = await renewalMetrics(s.stateDir);
    expect(value(metrics, 'xmpp_cert_renewal_held_back', { domain: 'ari.example.test', reason: 'spacing' })).toBe(1);
    expect(value(metrics, 'xmpp_cert_renewal_held_back', { domain: 'ari.example.test', reason: 'order_cap' })).toBe(0);

    const forced = await s.cli(['renew', 'ari.example.test', '--force']);
    expect(forced.code).toBe(0);
    expect(orders() - before).toBe(2);
    expect(s.group('ari.example.test').heldBack).toBeUndefined();
    metrics = await renewalMetrics(s.stateDir);
    expect(value(metrics, 'xmpp_cert_renewal_held_back', { domain: 'ari.example.test', reason: 'spacing' })).toBe(0);

    // ARI and the threshold (auto: half of 3 minutes before expiry): the earlier of the two.
    const notAfter = s.group('ari.example.test').notAfter!;
    const decided = async () => {
      const w = s.worker();
      return withWorker(w, async () => (await w.renewDomain('ari.example.test', {})).decision!);
    };
    window = { start: notAfter - 160, end: notAfter - 150 }; // 20-30 s after issuance: before the threshold's point
    const byAri = await decided();
    expect(byAri).toMatchObject({ due: false, reason: 'ari_window' });
    expect(byAri.dueAt).toBeGreaterThanOrEqual(window.start);
    expect(byAri.dueAt).toBeLessThan(window.end);
    window = { start: notAfter - 30, end: notAfter - 20 }; // after the threshold's point
    expect(await decided()).toMatchObject({ due: false, reason: 'threshold', dueAt: notAfter - LIFETIME / 2 });
  });

  test('renewal.maxOrdersPerHour: 2 of 3 due groups order, the third waits visibly, also when forced', async () => {
    const groups = ['cap1.example.test', 'cap2.example.test', 'cap3.example.test'];
    const s = scenario(pebble, prosody, groups, { maxOrdersPerHour: 2, concurrency: 1, reload: null, verify: { enabled: false } });
    const outcomes = await withWorker(s.worker(), (w) => w.check());
    expect(outcomes.map((o) => o.result)).toEqual(['renewed', 'renewed', 'waiting']);
    const started = s.state().orders![pebble.directoryUrl]!;
    expect(started).toHaveLength(2);
    expect(outcomes[2]!.nextAttempt).toBeCloseTo(Math.min(...started) + 3600, 0);
    expect(s.group('cap3.example.test').heldBack).toMatchObject({ reason: 'order_cap' });
    expect(s.steps).toContainEqual(expect.stringMatching(/^cap3\.example\.test: due \(missing\) but held back until .*renewal\.maxOrdersPerHour \(2\)/));
    const metrics = await renewalMetrics(s.stateDir);
    expect(value(metrics, 'xmpp_cert_renewal_held_back', { domain: 'cap3.example.test', reason: 'order_cap' })).toBe(1);
    expect(value(metrics, 'xmpp_cert_renewal_held_back', { domain: 'cap1.example.test', reason: 'order_cap' })).toBe(0);

    const forced = await s.cli(['renew', 'cap3.example.test', '--force']);
    expect(forced.out).toMatch(/held back until .*maxOrdersPerHour/);
    expect(forced.out).toMatch(/1 certificate group: 1 waiting/);
    expect(s.state().orders![pebble.directoryUrl]).toHaveLength(2);
    expect(fs.existsSync(path.join(prosody.certs, 'cap3.example.test'))).toBe(false);
  });

  test('a corrupt state file while three groups renew at once: set aside once, every group renewed', async () => {
    const groups = ['c1.example.test', 'c2.example.test', 'c3.example.test'];
    const s = scenario(pebble, prosody, groups, { concurrency: 3, reload: null, verify: { enabled: false } });
    fs.mkdirSync(s.stateDir, { recursive: true });
    fs.writeFileSync(path.join(s.stateDir, 'state.json'), '{"version": 1, "groups": {"c1.example.test": ');
    const outcomes = await withWorker(s.worker(), (w) => w.check());
    expect(outcomes.map((o) => `${o.group.name} ${o.result}`).sort()).toEqual(groups.map((g) => `${g} renewed`));
    const aside = fs.readdirSync(s.stateDir).filter((n) => n.startsWith('state.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(fs.readFileSync(path.join(s.stateDir, aside[0]!), 'utf8')).toMatch(/^\{"version": 1/);
    for (const g of groups) expect(s.group(g)).toMatchObject({ successes: 1, consecutiveFailures: 0 });
  });

  test('names: an unwatched name and an unknown --issuer are refused (forced or not); no issuer orders nothing', async () => {
    const s = scenario(pebble, prosody, ['loop.example.test']);
    const before = fs.existsSync(path.join(s.stateDir, 'state.json')) ? fs.readFileSync(path.join(s.stateDir, 'state.json'), 'utf8') : undefined;
    const unwatched = await s.cli(['renew', 'other.example.test']);
    expect(unwatched.code).toBe(1);
    expect(unwatched.out).toMatch(/renew: no watched certificate group holds "other\.example\.test"; the groups are: loop\.example\.test\. Watch it first/);
    for (const force of [[], ['--force']]) {
      const unknown = await s.cli(['renew', 'loop.example.test', '--issuer', 'letsencrypt-staging', ...force]);
      expect(unknown.code).toBe(1);
      expect(unknown.out).toMatch(/--issuer letsencrypt-staging: no issuer of that name in renewal\.issuers \(configured: 127\.0\.0\.1:\d+\).*use --dry-run/);
      expect(unknown.out).not.toMatch(/attempt|ordering/);
    }
    const after = fs.existsSync(path.join(s.stateDir, 'state.json')) ? fs.readFileSync(path.join(s.stateDir, 'state.json'), 'utf8') : undefined;
    expect(after).toBe(before);

    // No issuer configured: nothing is ordered from anywhere; every verb says which key to set.
    const none = scenario(pebble, prosody, ['none.example.test']);
    none.edit((c) => delete c.renewal.issuers);
    const once = await none.cli(['auto-renew']);
    expect(once.code).toBe(1);
    expect(once.out).toMatch(/no issuer configured: renewal\.issuers is not set, so nothing is renewed\. Set it, e\.g\. renewal\.issuers: \[\{type: acme/);
    expect((await none.cli(['renew', 'none.example.test', '--force'])).out).toMatch(/no issuer configured/);
    expect((await none.cli(['config', 'check'])).out).toMatch(/warning: no issuer configured/);
    const worker = cliStart(['worker', '--config', none.file]);
    await waitFor(() => /no issuer configured/.test(worker.output()), 10_000, 'the worker to say so');
    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    expect(fs.existsSync(path.join(prosody.certs, 'none.example.test'))).toBe(false);
    expect(none.state().groups).toEqual({});
  });
});
