/**
 * Agreement with Prosody, lab 1: certificate layouts. A real Prosody 0.12 and the real
 * `prosodyctl check certs` on one prosody.cfg.lua with classic certs/HOST.crt, HOST/fullchain.pem,
 * a combined HOST.pem, certbot's live/ symlinks into archive/ (with an older lineage beside it),
 * a wildcard certificate for a Component, a parent-domain fallback, an Include, a disabled host,
 * a U-label host, and two files for one name. For every host the exporter names the file
 * prosodyctl names and agrees on the verdict; every endpoint serves the file the exporter names
 * for its service (served_matches_disk 1 right after start), ambiguous ones one of the candidates.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Report } from '../../src/evaluate';
import { exporterReport, prosodyctlCheckCerts, writePair, type CheckedHost } from '../helpers/agreement';
import { DAY, makeCA, mint, type TestCA } from '../helpers/certs';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const HOSTS = ['classic.test', 'lineage.test', 'combined.test', 'certbot.test', 'wild.test', 'bücher.test', 'dup.test'];
const COMPONENTS = { 'muc.wild.test': 'muc', 'conf.lineage.test': 'muc' };
const DOMAINS = [...HOSTS.filter((h) => h !== 'bücher.test'), 'xn--bcher-kva.test', 'included.test', ...Object.keys(COMPONENTS)];

describeWithTools(['prosody', 'prosodyctl'], 'agreement with Prosody: certificate layouts', () => {
  let ca: TestCA;
  let prosody: RunningProsody;
  let report: Report;
  let checked: Map<string, CheckedHost>;

  beforeAll(async () => {
    ca = await makeCA('Agreement CA');
    const pair = (names: string[], certFile: string, keyFile: string, notAfter?: number) => writePair(ca, names, certFile, keyFile, notAfter);
    prosody = await startProsody({
      hosts: HOSTS,
      components: COMPONENTS,
      global: ['Include "conf.d/*.cfg.lua"'],
      writeCerts: async (certs, dir) => {
        const at = (...p: string[]) => path.join(certs, ...p);
        await pair(['classic.test'], at('classic.test.crt'), at('classic.test.key'));
        await pair(['lineage.test'], at('lineage.test', 'fullchain.pem'), at('lineage.test', 'privkey.pem'));
        const combined = await mint({ names: ['combined.test'], notAfter: 40 * DAY, issuer: ca });
        fs.writeFileSync(at('combined.test.pem'), combined.pem + combined.keyPem);
        // certbot: live/ links to the newest archive/ lineage; the older one is still valid and indexed too.
        await pair(['certbot.test'], at('archive', 'certbot.test', 'fullchain1.pem'), at('archive', 'certbot.test', 'privkey1.pem'), 20 * DAY);
        await pair(['certbot.test'], at('archive', 'certbot.test', 'fullchain2.pem'), at('archive', 'certbot.test', 'privkey2.pem'), 80 * DAY);
        fs.mkdirSync(at('live', 'certbot.test'), { recursive: true });
        fs.symlinkSync('../../archive/certbot.test/fullchain2.pem', at('live', 'certbot.test', 'fullchain.pem'));
        fs.symlinkSync('../../archive/certbot.test/privkey2.pem', at('live', 'certbot.test', 'privkey.pem'));
        await pair(['wild.test', '*.wild.test'], at('wild.crt'), at('wild.key'));
        await pair(['xn--bcher-kva.test'], at('idn.crt'), at('idn.key'));
        await pair(['dup.test'], at('dup-a.crt'), at('dup-a.key'), 30 * DAY);
        await pair(['dup.test'], at('dup-b.crt'), at('dup-b.key'), 60 * DAY);
        await pair(['included.test'], at('included.test', 'fullchain.pem'), at('included.test', 'privkey.pem'));
        await pair(['off.test'], at('off.test.crt'), at('off.test.key'));
        fs.mkdirSync(path.join(dir, 'conf.d'));
        fs.writeFileSync(path.join(dir, 'conf.d', 'more.cfg.lua'), 'VirtualHost "included.test"\nVirtualHost "off.test"\n  enabled = false\n');
        fs.writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
      },
    });
    checked = prosodyctlCheckCerts(prosody.config);
    report = await exporterReport(prosody, DOMAINS, path.join(prosody.dir, 'ca.pem'));
  }, 60_000);

  afterAll(async () => {
    await prosody?.stop();
  });

  const domain = (name: string) => report.domains.find((d) => d.domain === name);
  const certs = (...p: string[]) => path.join(prosody.certs, ...p);

  test('the exporter watches the enabled hosts of every file, in A-label form', () => {
    expect(report.domains.map((d) => d.domain).sort()).toEqual([...DOMAINS].sort());
    expect(domain('off.test')).toBeUndefined();
    expect([...checked.keys()]).not.toContain('off.test');
  });

  test.each([
    ['classic.test', () => certs('classic.test.crt')],
    ['lineage.test', () => certs('lineage.test', 'fullchain.pem')],
    ['combined.test', () => certs('combined.test.pem')],
    ['wild.test', () => certs('wild.crt')],
    ['muc.wild.test', () => certs('wild.crt')],
    ['conf.lineage.test', () => certs('lineage.test', 'fullchain.pem')],
    ['included.test', () => certs('included.test', 'fullchain.pem')],
  ])('%s: the file prosodyctl names, and an agreeing verdict', (host, file) => {
    expect(checked.get(host)).toMatchObject({ certificate: file() });
    expect(checked.get(host)!.error).toBeUndefined();
    expect(domain(host)).toMatchObject({ file: file(), ambiguous: false });
    expect(['ok', 'warning', 'critical']).toContain(domain(host)!.status);
  });

  test('a U-label host: Prosody indexes the certificate under its Unicode name; the exporter reports the A-label', () => {
    expect(checked.get('bücher.test')).toMatchObject({ certificate: certs('idn.crt') });
    expect(domain('xn--bcher-kva.test')).toMatchObject({ file: certs('idn.crt'), status: 'ok', coveredBy: 'xn--bcher-kva.test' });
  });

  test('two indexed files for one name: ambiguous, prosodyctl names one of them, the worse one is judged', () => {
    for (const [host, files] of [
      ['dup.test', [certs('dup-a.crt'), certs('dup-b.crt')]],
      [
        'certbot.test',
        [
          certs('live', 'certbot.test', 'fullchain.pem'),
          certs('archive', 'certbot.test', 'fullchain1.pem'),
          certs('archive', 'certbot.test', 'fullchain2.pem'),
        ],
      ],
    ] as const) {
      const d = domain(host)!;
      expect(d.ambiguous).toBe(true);
      expect(files).toContain(checked.get(host)!.certificate);
      expect([d.file, ...(d.alternatives ?? [])].every((f) => files.includes(f!))).toBe(true);
    }
    // dup-a expires in 30 days, dup-b in 60: the domain is judged by the worse (earlier) one.
    expect(domain('dup.test')!.services.find((s) => s.service === 'c2s')!.fingerprints).toHaveLength(2);
  });

  test('every endpoint serves the file the exporter names for its service (served_matches_disk 1 right after start)', () => {
    // Prosody keys its SNI table by the Unicode name, so direct TLS with the A-label SNI a client
    // must send is refused (unrecognized_name): a real failure, reported as such, not hidden.
    const failed = report.served.filter((s) => !s.ok).map((s) => `${s.domain} ${s.source} ${s.reason}`);
    expect(failed).toEqual(['xn--bcher-kva.test c2s_tls tls_handshake']);
    expect(report.served.find((s) => !s.ok)!.detail).toContain('unrecognized name');
    const mismatched = report.served.filter((s) => s.ok && s.matchesDisk !== true).map((s) => `${s.domain} ${s.source} ${s.target}: ${s.detail}`);
    expect(mismatched).toEqual([]);
    expect(report.served.length).toBeGreaterThanOrEqual(DOMAINS.length * 2);
  });
});
