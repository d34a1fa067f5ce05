/**
 * Agreement with Prosody, lab 2: `ssl` tables and ports. A host `ssl` table (and a Component
 * inheriting it), a host `c2s_ssl`, a host `https_ssl` and `legacy_ssl_ssl`, a port entry of the
 * global `c2s_direct_tls_ssl` serving a host that has no certificate of its own, with direct TLS on
 * c2s, s2s, legacy_ssl and https ports beside STARTTLS. STARTTLS and direct TLS use different files
 * for the same host here; the exporter names each, prosodyctl agrees on the file it reports, and the
 * real Prosody serves on every endpoint exactly the file the exporter names for that service.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Report } from '../../src/evaluate';
import { exporterReport, prosodyctlCheckCerts, writePair, type CheckedHost } from '../helpers/agreement';
import { makeCA, type TestCA } from '../helpers/certs';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const HOSTS = ['own.test', 'split.test', 'web.test', 'leg.test', 'portonly.test'];
const COMPONENTS = { 'muc.own.test': 'muc' };
const DOMAINS = [...HOSTS, ...Object.keys(COMPONENTS)];

describeWithTools(['prosody', 'prosodyctl'], 'agreement with Prosody: ssl tables and ports', () => {
  let ca: TestCA;
  let prosody: RunningProsody;
  let report: Report;
  let checked: Map<string, CheckedHost>;

  beforeAll(async () => {
    ca = await makeCA('Agreement CA 2');
    const pair = (names: string[], certFile: string, keyFile: string, notAfter?: number) => writePair(ca, names, certFile, keyFile, notAfter);
    const ssl = (name: string) => `{ certificate = "tls/${name}.crt"; key = "tls/${name}.key" }`;
    prosody = await startProsody({
      hosts: HOSTS,
      components: COMPONENTS,
      directTls: ['s2s_direct_tls', 'legacy_ssl', 'https'],
      global: (ports) => [`c2s_direct_tls_ssl = { [${ports.c2sDirectTls}] = ${ssl('port')} }`],
      hostOptions: {
        'own.test': [`ssl = ${ssl('own')}`],
        'split.test': [`c2s_ssl = ${ssl('split-c2s')}`],
        'web.test': [`https_ssl = ${ssl('web')}`],
        'leg.test': [`legacy_ssl_ssl = ${ssl('leg')}`],
      },
      writeCerts: async (certs, dir) => {
        const tls = (n: string) => [path.join(dir, 'tls', `${n}.crt`), path.join(dir, 'tls', `${n}.key`)] as const;
        const auto = (n: string) => [path.join(certs, `${n}.crt`), path.join(certs, `${n}.key`)] as const;
        for (const [names, files] of [
          [['own.test', 'muc.own.test'], tls('own')],
          [['own.test', 'muc.own.test'], auto('own.test')],
          [['split.test'], tls('split-c2s')],
          [['split.test'], auto('split.test')],
          [['web.test'], tls('web')],
          [['web.test'], auto('web.test')],
          [['leg.test'], tls('leg')],
          [['leg.test'], auto('leg.test')],
          [['portonly.test'], tls('port')],
        ] as const) {
          await pair([...names], files[0], files[1]);
        }
        fs.writeFileSync(path.join(dir, 'ca.pem'), ca.pem);
      },
    });
    checked = prosodyctlCheckCerts(prosody.config);
    report = await exporterReport(prosody, DOMAINS, path.join(prosody.dir, 'ca.pem'));
  }, 60_000);

  afterAll(async () => {
    await prosody?.stop();
  });

  const domain = (name: string) => report.domains.find((d) => d.domain === name)!;
  const fileOf = (name: string, service: string) => domain(name).services.find((s) => s.service === service)?.file;
  const tls = (n: string) => path.join(prosody.dir, 'tls', `${n}.crt`);
  const auto = (n: string) => path.join(prosody.certs, `${n}.crt`);

  test('per service, the exporter names the file Prosody uses: STARTTLS and direct TLS differ', () => {
    expect(fileOf('own.test', 'c2s')).toBe(tls('own'));
    expect(fileOf('own.test', 's2s')).toBe(tls('own'));
    expect(fileOf('own.test', 'c2s_direct_tls')).toBe(auto('own.test'));
    expect(fileOf('muc.own.test', 's2s')).toBe(tls('own'));
    expect(fileOf('muc.own.test', 's2s_direct_tls')).toBe(auto('own.test'));
    expect(fileOf('split.test', 'c2s')).toBe(tls('split-c2s'));
    expect(fileOf('split.test', 's2s')).toBe(auto('split.test'));
    expect(fileOf('web.test', 'https')).toBe(tls('web'));
    expect(fileOf('web.test', 'c2s')).toBe(auto('web.test'));
    expect(fileOf('leg.test', 'legacy_ssl')).toBe(tls('leg'));
    expect(fileOf('leg.test', 'c2s_direct_tls')).toBe(auto('leg.test'));
    expect(fileOf('portonly.test', 'c2s_direct_tls')).toBe(tls('port'));
    expect(fileOf('portonly.test', 'c2s')).toBeUndefined();
  });

  test('prosodyctl check certs names the host (or parent) ssl file, else the automatic one; the verdicts agree', () => {
    const expected: Record<string, string | undefined> = {
      'own.test': tls('own'),
      'muc.own.test': tls('own'),
      'split.test': auto('split.test'),
      'web.test': auto('web.test'),
      'leg.test': auto('leg.test'),
      'portonly.test': undefined,
    };
    for (const [host, file] of Object.entries(expected)) {
      expect([host, checked.get(host)?.certificate]).toEqual([host, file]);
      // The exporter's main file is c2s STARTTLS (s2s for a Component); prosodyctl's view has no c2s_ssl.
      const service = host === 'split.test' || host === 'muc.own.test' ? 's2s' : 'c2s';
      expect([host, fileOf(host, service)]).toEqual([host, file]);
    }
    expect(checked.get('portonly.test')!.noCertificate).toBe(true);
    expect(domain('portonly.test').status).toBe('missing');
    for (const host of ['own.test', 'split.test', 'web.test', 'leg.test', 'muc.own.test']) expect([host, domain(host).status]).toEqual([host, 'ok']);
  });

  test('every endpoint serves the file the exporter names for its service and port', () => {
    const failed = report.served.filter((s) => !s.ok).map((s) => `${s.domain} ${s.source} ${s.target} ${s.reason}`);
    // portonly.test has no certificate for STARTTLS: Prosody cannot start TLS there.
    expect(failed.filter((f) => !f.startsWith('portonly.test c2s_starttls') && !f.startsWith('portonly.test s2s_starttls'))).toEqual([]);
    const mismatched = report.served.filter((s) => s.ok && s.matchesDisk !== true).map((s) => `${s.domain} ${s.source} ${s.target}: ${s.detail}`);
    expect(mismatched).toEqual([]);
    // Without a certificate of its own, a host on a direct-TLS port gets the port's: any indexed one, per start.
    expect(domain('portonly.test').ambiguous).toBe(true);
    const ok = report.served.filter((s) => s.ok);
    expect(new Set(ok.map((s) => s.source))).toEqual(new Set(['c2s_starttls', 's2s_starttls', 'c2s_tls', 's2s_tls', 'https']));
  });
});
