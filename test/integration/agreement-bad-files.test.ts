/**
 * Agreement with Prosody, lab 3: files Prosody is lenient or strict about. Text before the PEM
 * (Bag Attributes from `openssl pkcs12`, an `openssl x509 -text` dump), and files it refuses: a key
 * alone, DER, a chain block without its END line, an RSA-1024 key, a key of another pair, a
 * SHA-1-signed certificate; an expired certificate; and files its index passes over (CRLF line
 * endings, three directories deep). For every host the real `prosodyctl check certs` and the
 * exporter's STARTTLS verdict agree: an error where prosodyctl reports one (each with its own
 * reason), the same file where it names one, "missing" where it finds none; Prosody serves a pair
 * only where both say it loads. And a finding prosodyctl does not show: the c2s direct-TLS port's own
 * context takes any indexed certificate, so with refused files in the index the port does not open
 * for anyone; the exporter says so for every host on it, and the real port is indeed closed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Report } from '../../src/evaluate';
import { exporterReport, prosodyctlCheckCerts, type CheckedHost } from '../helpers/agreement';
import { DAY, makeCA, mint, type TestCA } from '../helpers/certs';
import { opensslSha1Signed } from '../helpers/openssl';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const HOSTS = [
  'bag.test',
  'text.test',
  'keyonly.test',
  'der.test',
  'trunc.test',
  'small.test',
  'mismatch.test',
  'sha1.test',
  'expired.test',
  'crlf.test',
  'deep.test',
];

/** What each host should be: the exporter's c2s STARTTLS status (and error reason), and what prosodyctl says. */
const EXPECTED: Record<string, { status: string; reason?: string; prosodyctl: 'ok' | 'error' | 'none' | 'expired' }> = {
  'bag.test': { status: 'ok', prosodyctl: 'ok' },
  'text.test': { status: 'ok', prosodyctl: 'ok' },
  'keyonly.test': { status: 'error', reason: 'no_certificate', prosodyctl: 'error' },
  'der.test': { status: 'error', reason: 'not_pem', prosodyctl: 'error' },
  'trunc.test': { status: 'error', reason: 'bad_pem', prosodyctl: 'error' },
  'small.test': { status: 'error', reason: 'key_too_small', prosodyctl: 'error' },
  'mismatch.test': { status: 'error', reason: 'key_mismatch', prosodyctl: 'error' },
  'sha1.test': { status: 'error', reason: 'weak_signature', prosodyctl: 'error' },
  'expired.test': { status: 'expired', prosodyctl: 'expired' },
  'crlf.test': { status: 'missing', prosodyctl: 'none' },
  'deep.test': { status: 'missing', prosodyctl: 'none' },
};

describeWithTools(['prosody', 'prosodyctl', 'openssl'], 'agreement with Prosody: lenient and refused files', () => {
  let ca: TestCA;
  let prosody: RunningProsody;
  let report: Report;
  let checked: Map<string, CheckedHost>;

  beforeAll(async () => {
    ca = await makeCA('Agreement CA 3');
    prosody = await startProsody({
      hosts: HOSTS,
      writeCerts: async (certs, dir) => {
        const at = (...p: string[]) => path.join(certs, ...p);
        const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
        const write = (file: string, text: string | Buffer, mode = 0o644) => {
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, text, { mode });
        };
        const good = async (name: string, notAfter = 40 * DAY, notBefore?: number) =>
          mint({ names: [name], notAfter, ...(notBefore ? { notBefore } : {}), issuer: ca });

        const bag = await good('bag.test');
        write(
          at('bag.test.crt'),
          `Bag Attributes\n    localKeyID: 01 02 03\n    friendlyName: bag.test\nsubject=CN = bag.test\n\nissuer=CN = Agreement CA 3\n${bag.pem}`,
        );
        write(at('bag.test.key'), bag.keyPem, 0o600);
        const text = await good('text.test');
        write(at('text.test', 'fullchain.pem'), text.pem);
        const dump = openssl('x509', '-in', at('text.test', 'fullchain.pem'), '-text');
        write(at('text.test', 'fullchain.pem'), dump.toString() + ca.pem);
        write(at('text.test', 'privkey.pem'), text.keyPem, 0o600);
        write(at('keyonly.test.pem'), (await good('keyonly.test')).keyPem, 0o600);
        const der = await good('der.test');
        write(at('der.test.crt'), der.der);
        write(at('der.test.key'), der.keyPem, 0o600);
        const trunc = await good('trunc.test');
        write(at('trunc.test', 'fullchain.pem'), trunc.pem + ca.pem.slice(0, Math.floor(ca.pem.length / 2)));
        write(at('trunc.test', 'privkey.pem'), trunc.keyPem, 0o600);
        openssl(
          'req',
          '-x509',
          '-newkey',
          'rsa:1024',
          '-nodes',
          '-subj',
          '/CN=small.test',
          '-addext',
          'subjectAltName=DNS:small.test',
          '-days',
          '30',
          '-keyout',
          at('small.test.key'),
          '-out',
          at('small.test.crt'),
        );
        write(at('mismatch.test.crt'), (await good('mismatch.test')).pem);
        openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', at('mismatch.test.key'));
        // A SHA-1 signature from a CA (a self-signed one would be exempt).
        opensslSha1Signed(certs, 'sha1.test');
        const expired = await good('expired.test', -DAY, -30 * DAY);
        write(at('expired.test.crt'), expired.pem);
        write(at('expired.test.key'), expired.keyPem, 0o600);
        const crlf = await good('crlf.test');
        write(at('other-name.crt'), crlf.pem.replace(/\n/g, '\r\n'));
        write(at('other-name.key'), crlf.keyPem, 0o600);
        const deep = await good('deep.test');
        write(at('a', 'b', 'c', 'deep.crt'), deep.pem);
        write(at('a', 'b', 'c', 'deep.key'), deep.keyPem, 0o600);
        write(path.join(dir, 'ca.pem'), ca.pem);
      },
    });
    checked = prosodyctlCheckCerts(prosody.config);
    report = await exporterReport(prosody, HOSTS, path.join(prosody.dir, 'ca.pem'));
  }, 60_000);

  afterAll(async () => {
    await prosody?.stop();
  });

  test.each(Object.entries(EXPECTED))('%s: prosodyctl and the exporter agree', (host, expected) => {
    const ctl = checked.get(host)!;
    const d = report.domains.find((x) => x.domain === host)!;
    const c2s = d.services.find((s) => s.service === 'c2s')!;
    const said = ctl.error ? 'error' : ctl.noCertificate ? 'none' : ctl.expired ? 'expired' : 'ok';
    expect({ host, prosodyctl: said, status: c2s.status, reason: c2s.error?.reason }).toEqual({
      host,
      prosodyctl: expected.prosodyctl,
      status: expected.status,
      reason: expected.reason,
    });
    if (ctl.certificate) expect(d.file).toBe(ctl.certificate);
  });

  test('Prosody serves a certificate over STARTTLS only where both say it loads, and it is the file named', () => {
    const starttls = report.served.filter((s) => s.source.endsWith('_starttls'));
    const got = starttls.map((s) => `${s.domain} ${s.source}: ${s.ok && s.matchesDisk === true ? 'served' : 'not'}`);
    const want = starttls.map((s) => `${s.domain} ${s.source}: ${['ok', 'expired'].includes(EXPECTED[s.domain]!.status) ? 'served' : 'not'}`);
    expect(got).toEqual(want);
  });

  test('the c2s direct-TLS port may take any indexed certificate: the exporter says it may not open, and it is closed', () => {
    const port = report.ports.find((p) => p.service === 'c2s_direct_tls')!;
    expect(port).toMatchObject({ status: 'error' });
    expect(port.detail).toMatch(/may not open: its own certificate \(Prosody picks any indexed certificate for it, per start\)/);
    for (const host of ['bag.test', 'text.test', 'expired.test']) {
      const d = report.domains.find((x) => x.domain === host)!;
      expect([host, d.status]).toEqual([host, host === 'expired.test' ? 'expired' : 'error']);
      expect(d.services.find((s) => s.service === 'c2s_direct_tls')!.detail).toContain('may not open');
    }
    const direct = report.served.filter((s) => s.source === 'c2s_tls');
    expect(direct.length).toBe(HOSTS.length);
    expect(direct.filter((s) => s.ok)).toEqual([]);
    expect(prosody.log()).toContain('Error binding encrypted port for c2s_direct_tls');
  });
});
