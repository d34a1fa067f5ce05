/**
 * The notifier's outbox with channels of the test's own and a clock it sets: an event is on disk
 * before any send, stays there through failures and a restart, is sent once and removed; events
 * older than notify.maxAge are dropped with a log line and a counter; a corrupt outbox file is
 * moved aside; dedupe holds across restarts; routing and the alert log. The counters reach
 * /metrics through the exporter's own reader (createMetrics), as a scrape would.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { createMetrics } from '../../src/metrics';
import type { Channel } from '../../src/notify/channel';
import { NotifyError } from '../../src/notify/errors';
import type { NotifyEvent } from '../../src/notify/events';
import { Notifier } from '../../src/notify/notifier';
import type { RenewOutcome } from '../../src/renewal/renew';
import { RenewalError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import { parseMetrics, value } from '../helpers/metrics-text';

const T0 = 1_900_000_000;

class FakeChannel implements Channel {
  readonly sent: NotifyEvent[][] = [];
  failNext = 0;
  constructor(
    readonly label: string,
    readonly events = new Set(['renewal_succeeded', 'renewal_failed', 'fallback_in_use', 'verify_failed'] as const),
  ) {}
  describe() {
    return 'a test channel';
  }
  async send(events: readonly NotifyEvent[]) {
    if (this.failNext > 0) {
      this.failNext--;
      throw new NotifyError('the server said 451 try later', 'server_error', this.label);
    }
    this.sent.push([...events]);
  }
}

/** One exporter registry for the file (as one exporter process has), pointed at each test's state. */
let scrapedDir = '';
const metrics = createMetrics(
  () => undefined,
  () => scrapedDir,
);

function setup(yaml = '') {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-notify-outbox-'));
  const file = path.join(root, 'c.yml');
  fs.writeFileSync(file, `renewal:\n  stateDir: state\nlogging:\n  alertLog: alerts.log\n${yaml}`);
  const config = loadConfig({ file, env: {} }).config;
  const lines: string[] = [];
  const log = createLogger('info', { write: (line: string) => void lines.push(line) });
  const stateDir = path.join(root, 'state');
  const notifier = (channels: Channel[], now: number) => new Notifier(config, log, { channels, now: () => now });
  const outbox = (label = 'email') => fs.readdirSync(path.join(stateDir, 'outbox', label.replace(':', '-'))).filter((n) => n.endsWith('.json'));
  const scrape = async () => {
    scrapedDir = stateDir;
    return parseMetrics(Buffer.concat(await metrics.expose()).toString());
  };
  return { root, stateDir, lines, notifier, outbox, scrape };
}

const failed = (domain = 'example.org'): RenewOutcome => ({
  group: { name: domain, domains: [domain] },
  result: 'failed',
  error: new RenewalError(`${domain}: cannot connect to the CA`, 'connection', domain),
  nextAttempt: T0 + 3600,
});

test('queued on disk before any send; kept through a failure and a restart; then sent once and removed', async () => {
  const s = setup();
  const email = new FakeChannel('email');
  email.failNext = 1;
  const first = s.notifier([email], T0);
  await first.renewalOutcome(failed());
  expect(s.outbox()).toHaveLength(1);
  expect(email.sent).toEqual([]); // the digest window (60s) has not passed
  await first.stop(); // delivers what is queued at once: fails
  expect(s.outbox()).toHaveLength(1);
  expect(s.lines.join('')).toContain('email: the server said 451 try later; the notification stays queued, next try at');
  let samples = await s.scrape();
  expect(value(samples, 'xmpp_cert_notifications_failed_total', { channel: 'email', reason: 'server_error' })).toBe(1);
  expect(value(samples, 'xmpp_cert_notifications_failed_total', { channel: 'email', reason: 'auth' })).toBe(0);
  expect(value(samples, 'xmpp_cert_notification_outbox_events', { channel: 'email' })).toBe(1);

  const second = s.notifier([email], T0 + 120); // a restart: new process, same state directory
  await second.start();
  await second.stop();
  expect(email.sent).toHaveLength(1);
  expect(email.sent[0]![0]).toMatchObject({ type: 'renewal_failed', domain: 'example.org', reason: 'connection', nextAttempt: T0 + 3600 });
  expect(s.outbox()).toEqual([]);
  await s.notifier([email], T0 + 240).stop();
  expect(email.sent).toHaveLength(1); // not twice
  samples = await s.scrape();
  expect(value(samples, 'xmpp_cert_notifications_sent_total', { channel: 'email' })).toBe(1);
  expect(value(samples, 'xmpp_cert_notification_outbox_events', { channel: 'email' })).toBe(0);
  expect(value(samples, 'xmpp_cert_notifications_dropped_total', { channel: 'email' })).toBe(0);
});

test('older than notify.maxAge: dropped unsent, with a log line and a counter', async () => {
  const s = setup('notify:\n  maxAge: 1h\n');
  const email = new FakeChannel('email');
  email.failNext = 1;
  const first = s.notifier([email], T0);
  await first.renewalOutcome(failed());
  await first.stop();
  await s.notifier([email], T0 + 3601).stop();
  expect(email.sent).toEqual([]);
  expect(s.outbox()).toEqual([]);
  expect(s.lines.join('')).toContain(
    'dropped a notification not delivered through email within 3600s (notify.maxAge): example.org: renewal failed (connection)',
  );
  expect(value(await s.scrape(), 'xmpp_cert_notifications_dropped_total', { channel: 'email' })).toBe(1);
});

test('a corrupt outbox file is moved aside and counted as dropped; the rest is sent', async () => {
  const s = setup();
  const hook = new FakeChannel('webhook:0');
  const n = s.notifier([hook], T0);
  await n.renewalOutcome(failed('a.example'));
  fs.writeFileSync(path.join(s.stateDir, 'outbox', 'webhook-0', '00000000000001-1-abcdef.json'), '{"version": 1, "chan');
  await n.stop();
  expect(hook.sent.map((m) => m.map((e) => e.domain))).toEqual([['a.example']]);
  const left = fs.readdirSync(path.join(s.stateDir, 'outbox', 'webhook-0'));
  expect(left).toEqual([expect.stringMatching(/^00000000000001-1-abcdef\.json\.corrupt-/)]);
  expect(s.lines.join('')).toContain('is corrupt (not JSON');
  expect(value(await s.scrape(), 'xmpp_cert_notifications_dropped_total', { channel: 'webhook:0' })).toBe(1);
});

test('dedupe holds across restarts; routing sends each channel only its event types; every event goes to the alert log', async () => {
  const s = setup();
  const email = new FakeChannel('email', new Set(['renewal_failed'] as const));
  const hook = new FakeChannel('webhook:ops', new Set(['renewal_succeeded'] as const));
  await s.notifier([email, hook], T0).renewalOutcome(failed());
  await s.notifier([email, hook], T0 + 60).renewalOutcome(failed()); // the same, 1 min later, another process
  await s
    .notifier([email, hook], T0 + 120)
    .renewalOutcome({ group: { name: 'example.org', domains: ['example.org'] }, result: 'renewed', issuer: 'letsencrypt' });
  await s.notifier([email, hook], T0 + 180).stop();
  expect(email.sent.flat().map((e) => `${e.type} ${e.time}`)).toEqual([`renewal_failed ${T0}`]);
  expect(hook.sent.flat().map((e) => `${e.type} ${e.time}`)).toEqual([`renewal_succeeded ${T0 + 120}`]);
  expect(s.lines.join('')).toContain('example.org: renewal_failed not sent again: the same was sent at');
  const alerts = fs
    .readFileSync(path.join(s.root, 'alerts.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(alerts.map((a) => a.event)).toEqual(['renewal_failed', 'renewal_failed', 'renewal_succeeded']);
  expect(alerts[0]).toMatchObject({ domain: 'example.org', reason: 'connection', nextAttempt: T0 + 3600 });
});
