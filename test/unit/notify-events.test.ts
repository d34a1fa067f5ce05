/**
 * The pure parts of notifications: which event a renewal outcome is, what counts as a repeat
 * (dedupe), and how a message reads in each format, including a digest of twenty repeats as one
 * line with a count.
 */
import { RenewalError } from '../../src/shared/errors';
import type { RenewOutcome } from '../../src/renewal/renew';
import { emptyGroupState } from '../../src/state/state-types';
import { isRepeat } from '../../src/notify/dedupe';
import { eventsFromOutcome, signature, type NotifyEvent } from '../../src/notify/events';
import { discord, generic, groupEvents, html, plainText, slack, subject } from '../../src/notify/format';

const NOW = Date.UTC(2030, 0, 2, 3, 4, 5) / 1000;
const group = { name: 'example.org', domains: ['example.org', 'conference.example.org'] };
const state = { ...emptyGroupState(group.domains), consecutiveFailures: 3, notAfter: NOW + 90 * 86400 };
const error = (reason: string, message = `example.org: ${reason} went wrong`, retryAfter?: number) =>
  new RenewalError(message, reason, 'example.org', retryAfter === undefined ? {} : { retryAfter });

describe('eventsFromOutcome', () => {
  test('renewed: renewal_succeeded with issuer, notAfter and the verify result', () => {
    const outcome: RenewOutcome = { group, result: 'renewed', issuer: 'letsencrypt', verify: { result: 'served', detail: 'every endpoint serves it' } };
    expect(eventsFromOutcome(outcome, NOW, state)).toEqual([
      {
        type: 'renewal_succeeded',
        domain: 'example.org',
        names: group.domains,
        time: NOW,
        issuer: 'letsencrypt',
        notAfter: NOW + 90 * 86400,
        verify: { result: 'served', detail: 'every endpoint serves it' },
      },
    ]);
  });

  test('failed: renewal_failed with reason, message, failed runs, next attempt and Retry-After', () => {
    const outcome: RenewOutcome = { group, result: 'failed', error: error('rate_limited', 'too many orders', NOW + 7200), nextAttempt: NOW + 7200 };
    expect(eventsFromOutcome(outcome, NOW, state)).toEqual([
      {
        type: 'renewal_failed',
        domain: 'example.org',
        names: group.domains,
        time: NOW,
        reason: 'rate_limited',
        message: 'too many orders',
        failedRuns: 3,
        nextAttempt: NOW + 7200,
        retryAfter: NOW + 7200,
      },
    ]);
  });

  test('fallback: fallback_in_use with the CA failure; verify mismatch: verify_failed', () => {
    const fallback = eventsFromOutcome({ group, result: 'fallback', issuer: 'selfsigned', error: error('connection'), nextAttempt: NOW + 3600 }, NOW, state);
    expect(fallback[0]).toMatchObject({ type: 'fallback_in_use', issuer: 'selfsigned', reason: 'connection', nextAttempt: NOW + 3600 });
    const mismatch = eventsFromOutcome(
      {
        group,
        result: 'failed',
        issuer: 'letsencrypt',
        error: error('verify'),
        verify: { result: 'mismatch', detail: 'c2s_tls 127.0.0.1:5223 still serves the old one' },
      },
      NOW,
      state,
    );
    expect(mismatch[0]).toMatchObject({ type: 'verify_failed', verify: { result: 'mismatch' }, reason: 'verify' });
  });

  test('a crash without an error is still a failure; not_due and waiting are no events', () => {
    expect(eventsFromOutcome({ group, result: 'failed' }, NOW)[0]).toMatchObject({
      type: 'renewal_failed',
      reason: 'unknown',
      message: expect.stringContaining('unexpected error'),
    });
    expect(eventsFromOutcome({ group, result: 'not_due' }, NOW)).toEqual([]);
    expect(eventsFromOutcome({ group, result: 'waiting', nextAttempt: NOW + 60 }, NOW)).toEqual([]);
  });
});

describe('dedupe', () => {
  const failed: NotifyEvent = { type: 'renewal_failed', domain: 'example.org', names: [], time: NOW, reason: 'connection' };
  const last = { signature: signature(failed), at: NOW - 3600 };

  test('the same failure within the interval is a repeat; after it, a reminder goes out', () => {
    expect(isRepeat(last, failed, NOW, 6 * 3600)).toBe(true);
    expect(isRepeat(last, failed, NOW + 5 * 3600, 6 * 3600)).toBe(false);
    expect(isRepeat(last, failed, NOW, 0)).toBe(false);
  });

  test('a new reason, a success or nothing before is news', () => {
    expect(isRepeat(last, { ...failed, reason: 'dns' }, NOW, 6 * 3600)).toBe(false);
    expect(isRepeat(last, { ...failed, type: 'renewal_succeeded', reason: undefined }, NOW, 6 * 3600)).toBe(false);
    expect(isRepeat(undefined, failed, NOW, 6 * 3600)).toBe(false);
  });
});

describe('format', () => {
  const failure = (i: number): NotifyEvent => ({
    type: 'renewal_failed',
    domain: 'example.org',
    names: ['example.org'],
    time: NOW + i,
    reason: 'connection',
    message: 'cannot reach the CA',
    nextAttempt: NOW + 3600 + i,
  });
  const twenty = Array.from({ length: 20 }, (_, i) => failure(i));
  const succeeded: NotifyEvent = {
    type: 'renewal_succeeded',
    domain: 'chat.example.net',
    names: ['chat.example.net'],
    time: NOW,
    issuer: 'letsencrypt',
    notAfter: NOW + 86400,
  };

  test('one event: the subject names domain and reason; the body gives the times', () => {
    const one = [failure(0)];
    expect(subject(one)).toBe('[xmpp-cert] example.org: renewal failed (connection)');
    expect(plainText(one)).toBe(
      [
        'example.org: renewal failed (connection)',
        '  at 2030-01-02T03:04:05Z',
        '  error: cannot reach the CA',
        '  next attempt: 2030-01-02T04:04:05Z',
        '',
        '-- xmpp-cert',
        '',
      ].join('\n'),
    );
  });

  test('twenty repeats of one failure read as one line with a count, the latest details kept', () => {
    expect(groupEvents(twenty)).toHaveLength(1);
    expect(subject(twenty)).toBe('[xmpp-cert] example.org: renewal failed (connection) (20 times)');
    const text = plainText(twenty);
    expect(text).toContain('20 times, from 2030-01-02T03:04:05Z to 2030-01-02T03:04:24Z');
    expect(text).toContain('next attempt: 2030-01-02T04:04:24Z');
    expect(text.match(/renewal failed/g)).toHaveLength(2); // the summary and the one line
  });

  test('a digest of different events: a summary, then one block each', () => {
    const events = [failure(0), succeeded, failure(1)];
    expect(subject(events)).toBe('[xmpp-cert] 3 renewal events: 2 renewal failed, 1 renewed');
    expect(slack(events).text).toContain('*chat.example.net: renewed*\n• at 2030-01-02T03:04:05Z\n• issuer: letsencrypt\n• valid until: 2030-01-03T03:04:05Z');
    expect(generic(events)).toEqual({ source: 'xmpp-cert', version: 1, summary: '3 renewal events: 2 renewal failed, 1 renewed', events });
  });

  test('HTML and Slack escape what an error message carries; Discord keeps under 2000 characters and pings nobody', () => {
    const nasty: NotifyEvent = { ...failure(0), message: '<script>alert(1)</script> & @everyone' };
    expect(html([nasty])).toContain('&#60;script&#62;alert(1)&#60;/script&#62; &#38; @everyone');
    expect(slack([nasty]).text).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp;');
    expect(discord([nasty]).content).not.toContain('@everyone');
    const many = Array.from({ length: 60 }, (_, i) => ({ ...failure(i), domain: `d${i}.example.org` }));
    expect(discord(many).content.length).toBeLessThanOrEqual(2000);
  });
});
