/**
 * Probes against Debian's real Prosody 0.12 with certificates from a test CA minted at test time:
 * c2s and s2s STARTTLS and c2s direct TLS report the served certificate (equal to the file's);
 * expired, wrong-name and self-signed certificates are captured and judged; a file replaced on disk
 * without a reload gives served != disk until SIGHUP (`prosodyctl reload`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { configSchema } from '../../src/config';
import { evaluate, judgeServed } from '../../src/evaluate';
import { createLogger } from '../../src/shared/log';
import { InventoryScanner } from '../../src/sources/inventory';
import { LiveProber } from '../../src/sources/live';
import { probeEndpoint } from '../../src/sources/probe';
import type { ProbeModule } from '../../src/model/probe';
import { DAY, makeCA, mint, type TestCA } from '../helpers/certs';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { waitFor } from '../helpers/process';
import { describeWithTools } from '../helpers/tools';

describeWithTools(['prosody'], 'live probes against a real Prosody', () => {
  let ca: TestCA;
  let prosody: RunningProsody;
  const files: Record<string, { pem: string; der: Buffer }> = {};

  async function writePair(certs: string, dirName: string, options: Parameters<typeof mint>[0]) {
    const cert = await mint(options);
    fs.mkdirSync(path.join(certs, dirName), { recursive: true });
    fs.writeFileSync(path.join(certs, dirName, 'fullchain.pem'), cert.pem + (options.issuer ? options.issuer.pem : ''));
    fs.writeFileSync(path.join(certs, dirName, 'privkey.pem'), cert.keyPem, { mode: 0o600 });
    files[dirName] = cert;
  }

  beforeAll(async () => {
    ca = await makeCA('Prosody Test CA');
    prosody = await startProsody({
      hosts: ['good.test', 'expired.test', 'wrong.test', 'self.test'],
      components: { 'conference.good.test': 'muc' },
      writeCerts: async (certs) => {
        await writePair(certs, 'good.test', { names: ['good.test', 'conference.good.test'], notAfter: 40 * DAY, issuer: ca });
        await writePair(certs, 'expired.test', { names: ['expired.test'], notBefore: -30 * DAY, notAfter: -DAY, issuer: ca });
        await writePair(certs, 'wrong.test', { names: ['other.test'], notAfter: 40 * DAY, issuer: ca });
        await writePair(certs, 'self.test', { names: ['self.test'], notAfter: 40 * DAY });
      },
    });
  }, 30_000);

  afterAll(async () => {
    await prosody?.stop();
  });

  const probe = (domain: string, module: ProbeModule, port: number) =>
    probeEndpoint({ domain, host: '127.0.0.1', port, module }, { timeoutMs: 5000, ca: [ca.pem] });

  test.each([
    ['c2s', 'c2s'],
    ['s2s', 's2s'],
    ['c2s_tls', 'c2sDirectTls'],
  ] as const)('%s: the served leaf is the file Prosody uses', async (module, portName) => {
    const result = await probe('good.test', module, prosody.ports[portName]);
    if (!result.ok) throw new Error(`${result.reason}: ${result.message}\n${prosody.log()}`);
    expect(result.chain[0]!.equals(files['good.test']!.der)).toBe(true);
    expect(result.authorized).toBe(true);
    expect(result.tlsVersion).toMatch(/^TLSv1\.[23]$/);
  });

  test('expired, wrong name and self-signed certificates are captured and judged', async () => {
    const thresholds = configSchema.parse({}).thresholds;
    const now = Date.now() / 1000;
    const judged = async (domain: string) => judgeServed({ result: await probe(domain, 'c2s', prosody.ports.c2s), probedAt: now }, undefined, thresholds, now);
    const expired = await judged('expired.test');
    expect(expired).toMatchObject({ ok: true, status: 'expired', trusted: false });
    expect(expired.trustError).toBe('CERT_HAS_EXPIRED');
    const wrong = await judged('wrong.test');
    expect(wrong).toMatchObject({ ok: true, trusted: true, status: 'ok' });
    expect(wrong.matchedBy).toBeUndefined();
    expect(wrong.detail).toContain('does not cover wrong.test');
    const self = await judged('self.test');
    expect(self).toMatchObject({ ok: true, trusted: false, matchedBy: 'DNS:self.test' });
    expect(self.chain[0]!.selfSigned).toBe(true);
  });

  test('a Component: s2s serves its certificate; c2s (host-unknown to clients) is not probed', async () => {
    const endpoints = [
      { domain: 'conference.good.test', host: '127.0.0.1', port: prosody.ports.c2s, service: 'c2s' },
      { domain: 'conference.good.test', host: '127.0.0.1', port: prosody.ports.s2s, service: 's2s' },
    ];
    const probes = configSchema.parse({ probes: { srv: false, ca: [], endpoints } }).probes;
    const prober = new LiveProber(probes, createLogger('silent'), () => undefined);
    await prober.runOnce(['conference.good.test'], new Set(['conference.good.test']));
    const results = prober.snapshot().map((p) => p.result);
    expect(results.map((r) => r.endpoint.module)).toEqual(['s2s']);
    expect(results[0]!.ok && results[0]!.chain[0]!.equals(files['good.test']!.der)).toBe(true);
  });

  test('replaced on disk without a reload: served != disk; after SIGHUP the new one is served', async () => {
    const config = configSchema.parse({
      prosody: { config: null, certs: prosody.certs },
      domains: ['good.test'],
      probes: { srv: false, modules: ['c2s'], ca: [], endpoints: [{ domain: 'good.test', host: '127.0.0.1', port: prosody.ports.c2s, service: 'c2s' }] },
    });
    const scanner = new InventoryScanner(config);
    const prober = new LiveProber({ ...config.probes }, createLogger('silent'), () => undefined);
    const matches = async () => {
      const inventory = await scanner.scan();
      await prober.runOnce(['good.test']);
      const served = evaluate(inventory, config.thresholds, Date.now() / 1000, prober.snapshot()).served;
      return served[0]?.matchesDisk;
    };
    expect(await matches()).toBe(true);

    await writePair(prosody.certs, 'good.test', { names: ['good.test', 'conference.good.test'], notAfter: 80 * DAY, issuer: ca });
    expect(await matches()).toBe(false);

    prosody.reload();
    await waitFor(async () => (await matches()) === true, 10_000, 'Prosody to serve the new certificate after SIGHUP');
  });
});
