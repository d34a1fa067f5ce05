/**
 * The generation layout against Debian's real Prosody 0.12: Prosody follows the certs/<name>
 * symlink and does not index the .xmpp-cert archive, although the archive holds older (still
 * valid) certificates for the same name; a new install is served after SIGHUP, and so is a rollback
 * with activateGeneration. Certificates from a test CA minted at test time. No mocks.
 */
import fs from 'node:fs';
import { activateGeneration, installPair } from '../../src/renewal/install';
import { probeEndpoint } from '../../src/sources/probe';
import { DAY, makeCA, mint, type Minted, type TestCA } from '../helpers/certs';
import { waitFor } from '../helpers/process';
import { startProsody, type RunningProsody } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const HOST = 'swap.test';

describeWithTools(['prosody'], 'installed generations served by a real Prosody', () => {
  let ca: TestCA;
  let prosody: RunningProsody;
  const minted: Minted[] = [];

  const install = (certs: string, cert: Minted) => installPair(certs, HOST, { certificatePem: cert.pem + ca.pem, privateKeyPem: cert.keyPem });

  /** The DER of the leaf Prosody serves on c2s STARTTLS. */
  async function served(): Promise<Buffer> {
    const result = await probeEndpoint({ domain: HOST, host: '127.0.0.1', port: prosody.ports.c2s, module: 'c2s' }, { timeoutMs: 5000, ca: [ca.pem] });
    if (!result.ok) throw new Error(`${result.reason}: ${result.message}\n${prosody.log()}`);
    return result.chain[0]!;
  }

  const serving = (cert: Minted) => waitFor(async () => (await served()).equals(cert.der), 10_000, `Prosody to serve certificate #${minted.indexOf(cert)}`);

  beforeAll(async () => {
    ca = await makeCA('Install Test CA');
    // Distinct validity so each certificate is a different one; all valid now, so Prosody's index
    // would take any of them if it looked into the archive.
    for (let i = 0; i < 3; i++) minted.push(await mint({ names: [HOST], notAfter: (30 + 10 * i) * DAY, issuer: ca }));
    prosody = await startProsody({
      hosts: [HOST],
      writeCerts: async (certs) => {
        await install(certs, minted[0]!);
        await install(certs, minted[1]!);
      },
    });
  }, 30_000);

  afterAll(async () => {
    await prosody?.stop();
    if (prosody) fs.rmSync(prosody.dir, { recursive: true, force: true });
  });

  test('the live generation is served, not an older one from the archive', async () => {
    expect((await served()).equals(minted[1]!.der)).toBe(true);
    expect(prosody.log()).not.toMatch(/\.xmpp-cert/);
  });

  test('a new install is served after SIGHUP; a rollback too', async () => {
    const installed = await install(prosody.certs, minted[2]!);
    prosody.reload();
    await serving(minted[2]!);
    await activateGeneration(prosody.certs, HOST, installed.previous!);
    prosody.reload();
    await serving(minted[1]!);
    expect(prosody.log()).not.toMatch(/Failed to load|Error creating context/);
  });
});
