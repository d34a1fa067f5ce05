import { coversName, nameCoverage, type Certificate, type FileResult } from '../../src/cert';
import { checksOf, overallState } from '../../src/commands/plugin-output';
import { configSchema } from '../../src/config';
import { certificateStatus, evaluate, exitCode, resolveThresholds, thresholdsFor, worst, type Report } from '../../src/evaluate';
import { renderReport } from '../../src/metrics/report-gauges';
import type { Inventory } from '../../src/model/inventory';

const DAY = 86400;
const NOW = 1_800_000_000;
const thresholdsOf = (raw: Record<string, unknown>) => configSchema.parse({ thresholds: raw }).thresholds;

/** A certificate of `lifetimeDays` with `leftSeconds` remaining at NOW. */
const cert = (lifetimeDays: number, leftSeconds: number) => ({ notBefore: NOW + leftSeconds - lifetimeDays * DAY, notAfter: NOW + leftSeconds });

describe('certificate status at its boundaries (days)', () => {
  const th = resolveThresholds(thresholdsFor('x', thresholdsOf({ warning: 14, critical: 7 })), 90 * DAY);
  test.each([
    [14 * DAY + 1, 'ok'],
    [14 * DAY, 'warning'],
    [7 * DAY + 1, 'warning'],
    [7 * DAY, 'critical'],
    [1, 'critical'],
    [0, 'expired'],
    [-DAY, 'expired'],
  ])('%i seconds left -> %s', (left, expected) => {
    expect(certificateStatus(cert(90, left), th, NOW)).toBe(expected);
  });

  test('not yet valid is critical', () => {
    expect(certificateStatus({ notBefore: NOW + 60, notAfter: NOW + 90 * DAY }, th, NOW)).toBe('critical');
  });
});

describe('percent thresholds follow the lifetime', () => {
  const set = thresholdsFor('x', thresholdsOf({ warning: '20%', critical: '10%' }));
  test.each([
    // 6-day certificate: warning at 1.2 days left, critical at 0.6 days left
    [6, 1.2 * DAY + 1, 'ok'],
    [6, 1.2 * DAY, 'warning'],
    [6, 0.6 * DAY, 'critical'],
    // 90-day certificate: warning at 18 days, critical at 9 days
    [90, 18 * DAY + 1, 'ok'],
    [90, 18 * DAY, 'warning'],
    [90, 9 * DAY + 1, 'warning'],
    [90, 9 * DAY, 'critical'],
  ])('%i-day certificate, %i seconds left -> %s', (lifetime, left, expected) => {
    expect(certificateStatus(cert(lifetime, left), resolveThresholds(set, lifetime * DAY), NOW)).toBe(expected);
  });

  test('auto renewal: a third of the lifetime, a half at 10 days or less', () => {
    expect(resolveThresholds(set, 90 * DAY).renewal).toBe(30 * DAY);
    expect(resolveThresholds(set, 6 * DAY).renewal).toBe(3 * DAY);
    expect(resolveThresholds(set, 10 * DAY).renewal).toBe(5 * DAY);
  });

  test('a renewal threshold at or above the lifetime is exported capped at half of it (as the worker renews)', () => {
    const fixed = { ...set, renewal: { kind: 'seconds' as const, seconds: 30 * DAY } };
    expect(resolveThresholds(fixed, 7 * DAY).renewal).toBe(3.5 * DAY);
    expect(resolveThresholds(fixed, 30 * DAY).renewal).toBe(15 * DAY);
    expect(resolveThresholds(fixed, 90 * DAY).renewal).toBe(30 * DAY);
  });

  test('per-domain overrides replace the defaults key by key', () => {
    const th = thresholdsOf({ warning: 14, critical: 7, overrides: { 'upload.example.org': { critical: '2d' } } });
    expect(resolveThresholds(thresholdsFor('upload.example.org', th), 90 * DAY)).toEqual({ warning: 14 * DAY, critical: 2 * DAY, renewal: 30 * DAY });
    expect(resolveThresholds(thresholdsFor('example.org', th), 90 * DAY).critical).toBe(7 * DAY);
  });
});

describe('name coverage (RFC 6125)', () => {
  test.each([
    ['example.org', 'example.org', true],
    ['EXAMPLE.org', 'example.org.', true],
    ['*.example.org', 'conference.example.org', true],
    ['*.example.org', 'example.org', false],
    ['*.example.org', 'a.b.example.org', false],
    ['*.org', 'example.org', false],
    ['conf*.example.org', 'conference.example.org', false],
    ['example.org', 'upload.example.org', false],
  ])('%s covers %s: %s', (pattern, domain, expected) => {
    expect(coversName(pattern, domain)).toBe(expected);
  });

  test('CN is used only when there is no dNSName', () => {
    expect(nameCoverage({ dnsNames: [], commonName: 'legacy.example' }, 'legacy.example')).toBe('legacy.example');
    expect(nameCoverage({ dnsNames: ['other.example'], commonName: 'legacy.example' }, 'legacy.example')).toBeUndefined();
    expect(nameCoverage({ dnsNames: ['*.example.org'] }, 'upload.example.org')).toBe('*.example.org');
  });
});

describe('overall status and exit code', () => {
  test('worst and Nagios codes', () => {
    expect(worst(['ok', 'warning', 'error'])).toBe('error');
    expect(worst(['missing', 'critical'])).toBe('missing');
    expect(exitCode(['ok'])).toBe(0);
    expect(exitCode(['ok', 'warning'])).toBe(1);
    expect(exitCode(['warning', 'error'])).toBe(3);
    expect(exitCode(['error', 'expired'])).toBe(2);
    expect(exitCode(['missing'])).toBe(2);
  });
});

describe('a file that serves no watched domain (thresholds.unusedFiles)', () => {
  const leaf = (name: string, notBefore: number, notAfter: number): Certificate => ({
    position: 0,
    notBefore,
    notAfter,
    serial: '01',
    fingerprint: name,
    subject: `CN=${name}`,
    issuer: 'CN=CA',
    dnsNames: [name],
    xmppAddrs: [],
    srvNames: [],
    keyType: 'ec-prime256v1',
    selfSigned: false,
    spkiSha256: `spki-${name}`,
    signatureDigest: 'other',
  });
  const used = '/c/example.org/fullchain.pem';
  // A leftover file for the same name: Prosody uses `used` for example.org, not this one.
  const files = new Map<string, FileResult>([
    [used, { ok: true, certificates: [leaf('example.org', NOW - 80 * DAY, NOW + 10 * DAY)] }],
    ['/c/old/expired.pem', { ok: true, certificates: [leaf('example.org', NOW - 100 * DAY, NOW - DAY)] }],
    ['/c/old/early.pem', { ok: true, certificates: [leaf('early.example', NOW + DAY, NOW + 90 * DAY)] }],
    ['/c/old/soon.pem', { ok: true, certificates: [leaf('soon.example', NOW - 89 * DAY, NOW + DAY)] }],
  ]);
  const inventory: Inventory = {
    scannedAt: NOW,
    domains: [
      {
        name: 'example.org',
        origin: 'config',
        served: { host: 'example.org', cert: used, key: 'k', keyFound: true, via: 'fullchain', matchedName: 'example.org' },
      },
    ],
    files,
    ports: [],
    keys: new Map([[`${used}\nk`, { exists: true, prosodyCanRead: true, matches: true }]]),
    sources: [],
  };
  const judge = (raw: Record<string, unknown>) => evaluate(inventory, thresholdsOf(raw), NOW);
  const byPath = (report: Report) => Object.fromEntries(report.files.map((f) => [f.path, f]));

  test('an expired or not yet valid unused file is a warning, not what clients see; near expiry it is ok', () => {
    const report = judge({ warning: 14, critical: 7 });
    const files = byPath(report);
    expect(files[used]).toMatchObject({ servesConfiguredDomain: true, status: 'warning' });
    expect(files[used]!.unusedSeverity).toBeUndefined();
    expect(files['/c/old/expired.pem']).toMatchObject({
      servesConfiguredDomain: false,
      unusedSeverity: 'warning',
      status: 'warning',
      domains: ['example.org'],
    });
    expect(files['/c/old/early.pem']).toMatchObject({ unusedSeverity: 'warning', status: 'warning' });
    expect(files['/c/old/soon.pem']).toMatchObject({ unusedSeverity: 'warning', status: 'ok' });
    // The domain's own file is what makes the overall status; the leftovers add only a warning.
    expect(report.overall).toBe('warning');
    expect(overallState(checksOf(report, thresholdsOf({ warning: 14, critical: 7 })))).toBe(1);
  });

  test('unusedFiles: none keeps them out of the status entirely', () => {
    const report = judge({ warning: 5, critical: 2, unusedFiles: 'none' });
    for (const path of ['/c/old/expired.pem', '/c/old/early.pem']) expect(byPath(report)[path]).toMatchObject({ unusedSeverity: 'none', status: 'ok' });
    expect(report.overall).toBe('ok');
    expect(overallState(checksOf(report, thresholdsOf({ warning: 5, critical: 2, unusedFiles: 'none' })))).toBe(0);
  });

  test('the last scan is the time the scan finished, not the time of a later judgement (after a probe round)', () => {
    const report = evaluate(inventory, thresholdsOf({}), NOW + 300);
    expect(report).toMatchObject({ generatedAt: NOW + 300, scannedAt: NOW });
    const text = Buffer.concat(renderReport(report)).toString();
    expect(text).toMatch(new RegExp(`^xmpp_cert_last_scan_timestamp_seconds ${NOW}$`, 'm'));
  });

  test("a domain's overrides apply to the file Prosody uses for it, not to a leftover with the same name", () => {
    const raw = { warning: 14, critical: 7, renewal: 30, overrides: { 'example.org': { warning: 60, critical: 50 } } };
    const files = byPath(judge(raw));
    expect(files[used]).toMatchObject({ status: 'critical', thresholds: { warning: 60 * DAY, critical: 50 * DAY } });
    expect(files['/c/old/expired.pem']!.thresholds).toEqual({ warning: 14 * DAY, critical: 7 * DAY, renewal: 30 * DAY });
  });
});
