/**
 * The renewal policy and the certificate groups: pure functions over certificates parsed from
 * real PEM (minted at test time) and DomainEntry lists as discovery produces them.
 */
import { parseCertificates, type Certificate } from '../../src/cert';
import { decide, mayInstallFallback, type PolicyInput } from '../../src/renewal/policy';
import { backoffSeconds } from '../../src/state/backoff';
import { certificateGroups, groupFor } from '../../src/renewal/groups';
import type { DomainEntry } from '../../src/model/inventory';
import { DAY, makeCA, mint } from '../helpers/certs';

const now = Math.floor(Date.now() / 1000);

async function leaf(names: string[], notBefore: number, notAfter: number, selfSigned = false): Promise<Certificate> {
  const issuer = selfSigned ? undefined : await makeCA();
  const minted = await mint({ names, notBefore, notAfter, ...(issuer ? { issuer } : {}) });
  const parsed = parseCertificates(Buffer.from(minted.pem));
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.certificates[0]!;
}

const base = (current: Certificate | undefined, extra: Partial<PolicyInput> = {}): PolicyInput => ({
  domains: ['example.org'],
  ...(current ? { current } : {}),
  now,
  renewal: { kind: 'auto' },
  caConfigured: true,
  ...extra,
});

describe('decide', () => {
  test('no certificate, expired, self-signed with a CA configured, a name not covered: due at once', async () => {
    expect(decide(base(undefined))).toMatchObject({ due: true, reason: 'missing' });
    expect(decide(base(await leaf(['example.org'], -90 * DAY, -DAY)))).toMatchObject({ due: true, reason: 'expired' });
    const selfSigned = await leaf(['example.org'], -DAY, 89 * DAY, true);
    expect(selfSigned.selfSigned).toBe(true);
    expect(decide(base(selfSigned))).toMatchObject({ due: true, reason: 'self_signed' });
    // Without a CA issuer, a fresh self-signed certificate is what we want: not due.
    expect(decide(base(selfSigned, { caConfigured: false }))).toMatchObject({ due: false, reason: 'threshold' });
    const fresh = await leaf(['example.org'], -DAY, 89 * DAY);
    expect(decide(base(fresh, { domains: ['example.org', 'upload.example.org'] }))).toMatchObject({
      due: true,
      reason: 'not_covered',
      uncovered: 'upload.example.org',
    });
  });

  test('auto: one third of a 90-day lifetime left, one half of a 6-day one', async () => {
    const ninety = await leaf(['example.org'], -59 * DAY, 31 * DAY);
    expect(ninety.notAfter - ninety.notBefore).toBe(90 * DAY);
    expect(decide(base(ninety))).toMatchObject({ due: false, reason: 'threshold', dueAt: ninety.notAfter - 30 * DAY });
    const ninetyLater = await leaf(['example.org'], -61 * DAY, 29 * DAY);
    expect(decide(base(ninetyLater)).due).toBe(true);
    const shortLived = await leaf(['example.org'], -2 * DAY, 4 * DAY);
    expect(decide(base(shortLived))).toMatchObject({ due: false, dueAt: shortLived.notAfter - 3 * DAY });
  });

  test("the seed's CERT_RENEWAL_THRESHOLD=30 (days) and a percentage", async () => {
    const cert = await leaf(['example.org'], -65 * DAY, 25 * DAY);
    expect(decide(base(cert, { renewal: { kind: 'seconds', seconds: 30 * DAY } })).due).toBe(true);
    expect(decide(base(cert, { renewal: { kind: 'seconds', seconds: 20 * DAY } })).due).toBe(false);
    expect(decide(base(cert, { renewal: { kind: 'percent', percent: 30 } })).due).toBe(true); // 27 days of 90
  });

  test('an ARI window overrides the threshold, at a stable time inside it', async () => {
    const cert = await leaf(['example.org'], -10 * DAY, 80 * DAY);
    const window = { start: now + 5 * DAY, end: now + 7 * DAY };
    const d = decide(base(cert, { window }));
    expect(d).toMatchObject({ due: false, reason: 'ari_window' });
    expect(d.dueAt).toBeGreaterThanOrEqual(window.start);
    expect(d.dueAt).toBeLessThan(window.end);
    expect(decide(base(cert, { window })).dueAt).toBe(d.dueAt);
    expect(decide(base(cert, { window: { start: now - 2 * DAY, end: now - DAY } })).due).toBe(true);
  });

  test('a pending Retry-After or backoff holds a due group back', async () => {
    const d = decide(base(undefined, { state: { nextAttempt: now + 600 } }));
    expect(d).toMatchObject({ due: true, waitUntil: now + 600 });
    expect(decide(base(undefined, { state: { nextAttempt: now - 1 } })).waitUntil).toBeUndefined();
  });
});

test('backoff doubles from the initial delay up to the cap', () => {
  expect([0, 1, 2, 3, 6, 40].map((n) => backoffSeconds(n, 3600, 86400))).toEqual([0, 3600, 7200, 14400, 86400, 86400]);
});

test('fallback: never over a valid CA certificate; over nothing, an expired one, or a due self-signed one', async () => {
  const valid = await leaf(['example.org'], -80 * DAY, 10 * DAY);
  expect(mayInstallFallback(valid, now, 'threshold')).toBe(false);
  expect(mayInstallFallback(valid, now, 'not_covered')).toBe(false);
  expect(mayInstallFallback(undefined, now, 'missing')).toBe(true);
  expect(mayInstallFallback(await leaf(['example.org'], -90 * DAY, -1), now, 'expired')).toBe(true);
  const selfSigned = await leaf(['example.org'], -DAY, 89 * DAY, true);
  expect(mayInstallFallback(selfSigned, now, 'self_signed')).toBe(false);
  expect(mayInstallFallback(selfSigned, now, 'not_covered')).toBe(true);
});

describe('groups', () => {
  const entry = (name: string, origin: DomainEntry['origin']): DomainEntry => ({ name, origin });
  const domains = [
    entry('example.org', 'VirtualHost'),
    entry('conference.example.org', 'Component'),
    entry('upload.example.org', 'Component'),
    entry('chat.example.org', 'VirtualHost'),
    entry('rooms.chat.example.org', 'Component'),
    entry('gateway.other.net', 'Component'),
    entry('localhost', 'config'),
  ];

  test('one per host with the Components below it; the closest host wins; orphans alone', () => {
    expect(certificateGroups(domains)).toEqual([
      { name: 'example.org', domains: ['example.org', 'conference.example.org', 'upload.example.org'] },
      { name: 'chat.example.org', domains: ['chat.example.org', 'rooms.chat.example.org'] },
      { name: 'localhost', domains: ['localhost'] },
      { name: 'gateway.other.net', domains: ['gateway.other.net'] },
    ]);
  });

  test('renewal.certificates replaces the default; groupFor finds a member', () => {
    const groups = certificateGroups(domains, [{ name: 'all.example.org', domains: ['example.org', 'chat.example.org'] }]);
    expect(groups).toEqual([{ name: 'all.example.org', domains: ['example.org', 'chat.example.org'] }]);
    expect(groupFor('chat.example.org', groups).name).toBe('all.example.org');
    expect(groupFor('new.example.net', groups)).toEqual({ name: 'new.example.net', domains: ['new.example.net'] });
  });
});
