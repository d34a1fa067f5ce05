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

  test('ARI and the threshold: the earlier of the two (certbot 4.1), at a stable time inside the window', async () => {
    const cert = await leaf(['example.org'], -10 * DAY, 80 * DAY); // threshold point (auto): 30 days before expiry = now + 50 days
    const window = { start: now + 5 * DAY, end: now + 7 * DAY };
    const d = decide(base(cert, { window }));
    expect(d).toMatchObject({ due: false, reason: 'ari_window' });
    expect(d.dueAt).toBeGreaterThanOrEqual(window.start);
    expect(d.dueAt).toBeLessThan(window.end);
    expect(decide(base(cert, { window })).dueAt).toBe(d.dueAt);
    expect(decide(base(cert, { window: { start: now - 2 * DAY, end: now - DAY } })).due).toBe(true);
    // A window after the threshold's point: the threshold decides.
    expect(decide(base(cert, { window: { start: now + 60 * DAY, end: now + 61 * DAY } }))).toMatchObject({
      reason: 'threshold',
      dueAt: cert.notAfter - 30 * DAY,
    });
  });

  test('a threshold at or above the lifetime is capped at half of it; below it, not', async () => {
    const weekly = await leaf(['example.org'], -DAY, 6 * DAY); // a 7-day certificate
    const capped = decide(base(weekly, { renewal: { kind: 'seconds', seconds: 30 * DAY } }));
    expect(capped).toMatchObject({ due: false, reason: 'threshold', dueAt: weekly.notAfter - 3.5 * DAY, capped: { configured: 30 * DAY, used: 3.5 * DAY } });
    expect(capped.dueAt).toBeGreaterThan(weekly.notBefore);
    expect(decide(base(weekly, { renewal: { kind: 'seconds', seconds: 7 * DAY } })).capped).toEqual({ configured: 7 * DAY, used: 3.5 * DAY });
    const below = decide(base(weekly, { renewal: { kind: 'seconds', seconds: 6 * DAY } }));
    expect(below).toMatchObject({ dueAt: weekly.notAfter - 6 * DAY });
    expect(below.capped).toBeUndefined();
  });

  test('spacing: a due group waits after a recent CA issuance of the same names, at most half its lifetime; emergencies and changed names do not', async () => {
    const cert = await leaf(['example.org'], -DAY, 80 * DAY);
    const window = { start: now - 2 * DAY, end: now - DAY }; // the CA says: renew now
    const state = { lastIssued: now - 600, issuedDomains: ['example.org'], notAfter: now + 90 * DAY };
    expect(decide(base(cert, { window, state, minSpacing: DAY })).hold).toEqual({ reason: 'spacing', until: now - 600 + DAY });
    // Short-lived: half the lifetime bounds the spacing.
    const short = { ...state, notAfter: now - 600 + 2 * 3600 };
    expect(decide(base(cert, { window, state: short, minSpacing: DAY })).hold).toEqual({ reason: 'spacing', until: now - 600 + 3600 });
    expect(decide(base(cert, { window, state: { ...state, lastIssued: now - 2 * DAY }, minSpacing: DAY })).hold).toBeUndefined();
    expect(decide(base(undefined, { state, minSpacing: DAY })).hold).toBeUndefined(); // missing: never spaced
    expect(decide(base(cert, { domains: ['example.org', 'upload.example.org'], state, minSpacing: DAY })).hold).toBeUndefined(); // new names
    expect(decide(base(cert, { window, state, minSpacing: 0 })).hold).toBeUndefined();
  });

  test('a staging certificate in place is due at once while no staging issuer is configured', async () => {
    const cert = await leaf(['example.org'], -DAY, 80 * DAY);
    expect(decide(base(cert, { stagingInPlace: true }))).toMatchObject({ due: true, reason: 'staging' });
    expect(decide(base(cert, { stagingInPlace: false })).due).toBe(false);
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

test('fallback: never while a valid trusted certificate is in place; over nothing, expired, not yet valid or untrusted ones due by themselves', async () => {
  const valid = await leaf(['example.org'], -80 * DAY, 10 * DAY);
  const trusted = { leaf: valid, trusted: true };
  expect(mayInstallFallback([trusted], now, 'threshold')).toBe(false);
  expect(mayInstallFallback([trusted], now, 'not_covered')).toBe(false);
  expect(mayInstallFallback([], now, 'missing')).toBe(true);
  const expired = { leaf: await leaf(['example.org'], -90 * DAY, -1), trusted: false };
  const early = { leaf: await leaf(['example.org'], DAY, 90 * DAY), trusted: false };
  expect(mayInstallFallback([expired], now, 'expired')).toBe(true);
  expect(mayInstallFallback([early], now, 'missing')).toBe(true);
  // Any valid trusted one among the files Prosody may use is enough, whatever the others are.
  expect(mayInstallFallback([expired, early, trusted], now, 'expired')).toBe(false);
  const selfSigned = { leaf: await leaf(['example.org'], -DAY, 89 * DAY, true), trusted: false };
  expect(mayInstallFallback([selfSigned], now, 'self_signed')).toBe(false);
  expect(mayInstallFallback([selfSigned], now, 'not_covered')).toBe(true);
  // A valid certificate no trust anchor verifies (an unknown CA) does not count as better, unless due only for what it is.
  const untrusted = { leaf: valid, trusted: false };
  expect(mayInstallFallback([untrusted], now, 'threshold')).toBe(true);
  expect(mayInstallFallback([untrusted], now, 'staging')).toBe(false);
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
