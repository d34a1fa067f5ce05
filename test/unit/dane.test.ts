/**
 * DANE matching (cert/dane.ts, evaluate/dane.ts) against TLSA data made by the real openssl, the
 * way operators publish it: every selector and matching type for DANE-EE(3) and DANE-TA(2), a
 * renewal with a new key (3 1 1 stops matching, 2 x x on the CA keeps matching), a TA record that
 * matches a certificate the leaf does not chain up to, DANE-TA without the name, PKIX usages and
 * unknown values (not usable: no verdict), and a failed lookup.
 */
import { daneMatch, isUsableTlsa } from '../../src/cert';
import { judgeDane } from '../../src/evaluate/dane';
import type { ProbeResult, TlsaRecord } from '../../src/model/probe';
import { DAY, makeCA, mint, type Minted, type TestCA } from '../helpers/certs';
import { opensslTlsaData } from '../helpers/openssl';
import { describeWithTools } from '../helpers/tools';

describeWithTools(['openssl'], 'DANE against TLSA data made by openssl', () => {
  let ca: TestCA;
  let leaf: Minted;
  let renewed: Minted;
  let otherCa: TestCA;
  const caDer = () => Buffer.from(ca.cert.rawData);
  const record = (usage: number, selector: number, matchingType: number, pem: string): TlsaRecord => ({
    usage,
    selector,
    matchingType,
    data: opensslTlsaData(pem, selector, matchingType),
  });

  beforeAll(async () => {
    ca = await makeCA('DANE Test CA');
    otherCa = await makeCA('Another CA');
    leaf = await mint({ names: ['dane.test'], notAfter: 40 * DAY, issuer: ca, freshKey: true });
    renewed = await mint({ names: ['dane.test'], notAfter: 80 * DAY, issuer: ca, freshKey: true });
  });

  test.each([0, 1])('DANE-EE: selector %i, every matching type, matches the leaf; a renewal with a new key does not', (selector) => {
    for (const matchingType of [0, 1, 2]) {
      const r = record(3, selector, matchingType, leaf.pem);
      expect(daneMatch(r, [leaf.der, caDer()], true)).toBe(true);
      expect(daneMatch(r, [renewed.der, caDer()], true)).toBe(false);
      // DANE-EE ignores the name (RFC 7671 5.1)
      expect(daneMatch(r, [leaf.der], false)).toBe(true);
    }
  });

  test.each([0, 1])('DANE-TA: selector %i on the CA matches a leaf it signed, before and after a renewal', (selector) => {
    for (const matchingType of [0, 1, 2]) {
      const r = record(2, selector, matchingType, ca.pem);
      expect(daneMatch(r, [leaf.der, caDer()], true)).toBe(true);
      expect(daneMatch(r, [renewed.der, caDer()], true)).toBe(true);
    }
  });

  test('DANE-TA needs the anchor in the chain, a leaf that chains up to it, and the name', async () => {
    const r = record(2, 1, 1, ca.pem);
    expect(daneMatch(r, [leaf.der], true)).toBe(false); // anchor not served
    expect(daneMatch(r, [leaf.der, caDer()], false)).toBe(false); // name not covered (RFC 7671 5.2.2)
    const stranger = await mint({ names: ['dane.test'], notAfter: 40 * DAY, issuer: otherCa });
    expect(daneMatch(r, [stranger.der, caDer()], true)).toBe(false); // CA served beside a leaf it did not sign
    expect(daneMatch(record(2, 1, 1, otherCa.pem), [leaf.der, caDer()], true)).toBe(false);
  });

  test('only usages 2 and 3 with selectors 0/1 and matching types 0-2 are usable', () => {
    const data = opensslTlsaData(leaf.pem, 1, 1);
    expect(isUsableTlsa({ usage: 3, selector: 1, matchingType: 1, data })).toBe(true);
    for (const [usage, selector, matchingType] of [
      [0, 0, 1],
      [1, 1, 1],
      [4, 1, 1],
      [3, 2, 1],
      [3, 1, 3],
      [3, 1, 255],
    ] as const) {
      expect(isUsableTlsa({ usage, selector, matchingType, data })).toBe(false);
      expect(daneMatch({ usage, selector, matchingType, data }, [leaf.der, caDer()], true)).toBe(false);
    }
  });

  describe('judgeDane', () => {
    const served = (chain: Buffer[]): ProbeResult => ({
      ok: true,
      endpoint: { domain: 'dane.test', host: 'xmpp.dane.test', port: 5269, module: 's2s', address: '127.0.0.1' },
      durationSeconds: 0.01,
      tlsVersion: 'TLSv1.3',
      chain,
      certificates: [],
      authorized: true,
    });
    const name = '_5269._tcp.xmpp.dane.test';

    test('match when any usable record matches; 0 after a renewal with a new key; records marked', () => {
      const records = [record(3, 1, 1, leaf.pem), record(1, 0, 1, leaf.pem)];
      const before = judgeDane({ ok: true, name, records, authenticated: true }, served([leaf.der, caDer()]), true);
      expect(before).toMatchObject({ name, lookupOk: true, authenticated: true, match: true });
      expect(before?.records.map((r) => [r.usable, r.matches])).toEqual([
        [true, true],
        [false, false],
      ]);
      const after = judgeDane({ ok: true, name, records, authenticated: true }, served([renewed.der, caDer()]), true);
      expect(after).toMatchObject({ match: false });
    });

    test('no verdict without a usable record, without records, or without a chain; a failed lookup says why; no TLSA name: nothing', () => {
      const pkixOnly = [record(1, 0, 1, leaf.pem)];
      expect(judgeDane({ ok: true, name, records: pkixOnly, authenticated: false }, served([leaf.der]), true)?.match).toBeUndefined();
      expect(judgeDane({ ok: true, name, records: [], authenticated: false }, served([leaf.der]), true)).toEqual({
        name,
        lookupOk: true,
        authenticated: false,
        records: [],
      });
      const failed: ProbeResult = { ok: false, endpoint: served([]).endpoint, durationSeconds: 1, reason: 'connect', message: 'refused' };
      expect(judgeDane({ ok: true, name, records: [record(3, 1, 1, leaf.pem)], authenticated: true }, failed, false)?.match).toBeUndefined();
      expect(judgeDane({ ok: false, name, reason: 'servfail', message: 'SERVFAIL' }, served([leaf.der]), true)).toEqual({
        name,
        lookupOk: false,
        reason: 'servfail',
        message: 'SERVFAIL',
        records: [],
      });
      expect(judgeDane(undefined, served([leaf.der]), true)).toBeUndefined();
    });
  });
});
