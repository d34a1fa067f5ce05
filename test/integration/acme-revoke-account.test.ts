/**
 * `xmpp-cert revoke` and `xmpp-cert account` against a real Pebble; Pebble's management API
 * (/cert-status-by-serial) is the witness of what the CA recorded:
 * - revoke --reason keyCompromise: Revoked with reason 1, then a new certificate on a fresh key
 *   (also with key reuse: the prepared next key is replaced too); --no-renew leaves the pair;
 *   a self-signed certificate is refused with a clear error;
 * - account show (no account is registered by it), rollover (a new key the CA accepts: orders
 *   keep working on the same account), deactivate (needs --yes; the next order registers anew).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { opensslSelfSigned, opensslSpkiSha256 } from '../helpers/openssl';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { runCli } from '../helpers/process';
import { describeWithTools } from '../helpers/tools';

describeWithTools(['pebble', 'pebble-challtestsrv', 'openssl'], 'revoke and account against Pebble', () => {
  jest.setTimeout(60_000);
  let pebble: RunningPebble;
  let config: string;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-revoke-'));
  const certs = path.join(root, 'certs');
  const state = path.join(root, 'state');
  const live = path.join(certs, 'example.test', 'fullchain.pem');
  const nextKey = path.join(state, 'keys', 'example.test', 'next.pem');

  beforeAll(async () => {
    pebble = await startPebble();
    config = path.join(root, 'xmpp-cert.yml');
    fs.writeFileSync(
      config,
      JSON.stringify({
        prosody: { config: null, certs },
        probes: { enabled: false },
        renewal: {
          stateDir: state,
          email: 'admin@example.test',
          retry: { count: 1, delay: 0 },
          certificates: [
            { name: 'example.test', domains: ['example.test', 'conference.example.test'] },
            { name: 'self.example.test', domains: ['self.example.test'] },
          ],
          key: { reuse: true },
          issuers: [
            {
              type: 'acme',
              name: 'pebble',
              directory: pebble.directoryUrl,
              ca: [pebble.caFile],
              challenge: { type: 'http-01', listen: `127.0.0.1:${pebble.httpPort}` },
            },
          ],
        },
      }),
    );
  });

  afterAll(async () => {
    await pebble?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => runCli([...args, '--config', config]);
  const leaf = () => new crypto.X509Certificate(fs.readFileSync(live));

  test('account show before any order: none yet, and it registers nothing', () => {
    const result = cli('account');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('issuer: pebble');
    expect(result.stdout).toContain('account: none yet');
    expect(fs.existsSync(path.join(state, 'accounts'))).toBe(false);
  });

  test('revoke --reason keyCompromise --no-renew: Pebble reports it revoked (reason 1); the key is never certified again', async () => {
    expect(cli('renew', 'example.test').status).toBe(0);
    const revoked = leaf();
    const before = fs.readFileSync(live, 'utf8');
    const oldSpki = opensslSpkiSha256(live, 'cert');
    const oldNext = opensslSpkiSha256(nextKey, 'key');
    expect((await pebble.certStatus(revoked.serialNumber)).Status).toBe('Valid');

    const result = cli('revoke', 'conference.example.test', '--reason', 'keyCompromise', '--no-renew');
    expect(result.stdout).toBe(`example.test: revoked serial ${revoked.serialNumber} at pebble (keyCompromise)\n`);
    expect(result.status).toBe(0);
    expect(await pebble.certStatus(revoked.serialNumber)).toMatchObject({ Status: 'Revoked', Reason: 1 });
    expect(fs.readFileSync(live, 'utf8')).toBe(before);
    expect(fs.existsSync(nextKey)).toBe(false); // kept beside the compromised one: discarded too

    // A later renewal, with key reuse on, still certifies a fresh key.
    const renewed = cli('renew', 'example.test', '--force');
    expect(renewed.status).toBe(0);
    expect(renewed.stdout).toContain('key: a fresh key: the installed one was revoked as compromised');
    const fresh = opensslSpkiSha256(live, 'cert');
    expect(fresh).not.toBe(oldSpki);
    expect(fresh).not.toBe(oldNext);
    expect(opensslSpkiSha256(nextKey, 'key')).not.toBe(oldNext);
    expect((await pebble.certStatus(leaf().serialNumber)).Status).toBe('Valid');
  });

  test('revoke --reason superseded: revoked (reason 4), then renewed at once on the same key (reuse)', async () => {
    const revoked = leaf();
    const spki = opensslSpkiSha256(live, 'cert');
    const result = cli('revoke', 'example.test', '--reason', 'superseded');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('1 renewed');
    expect(await pebble.certStatus(revoked.serialNumber)).toMatchObject({ Status: 'Revoked', Reason: 4 });
    expect(leaf().serialNumber).not.toBe(revoked.serialNumber);
    expect(opensslSpkiSha256(live, 'cert')).toBe(spki);
  });

  test('a self-signed certificate or an unknown reason is refused with a clear error', () => {
    const { cert, key } = opensslSelfSigned(path.join(certs, 'self.example.test'), ['self.example.test'], 30, 'fullchain.pem', 'privkey.pem');
    expect(fs.existsSync(cert) && fs.existsSync(key)).toBe(true);
    const self = cli('revoke', 'self.example.test');
    expect(self.status).toBe(1);
    expect(self.stderr).toBe(`xmpp-cert: self.example.test: ${cert} is self-signed; there is nothing to revoke at a CA\n`);
    const bad = cli('revoke', 'example.test', '--reason', 'bored');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain(
      "option '--reason <reason>' argument 'bored' is invalid. Allowed choices are unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation",
    );
  });

  test('account show and rollover: the CA accepts the new key; the same account keeps ordering', () => {
    const shown = cli('account', 'show');
    expect(shown.status).toBe(0);
    const url = /account: (\S+)/.exec(shown.stdout)![1]!;
    expect(shown.stdout).toContain('status: valid');
    expect(shown.stdout).toContain('contact: mailto:admin@example.test');
    const thumbprint = /thumbprint (\S+)\)/.exec(shown.stdout)![1];

    const rolled = cli('account', 'rollover');
    expect(rolled.status).toBe(0);
    expect(rolled.stdout).toContain('account key rolled over');
    expect(rolled.stdout).toContain(`account: ${url}`);
    expect(/thumbprint (\S+)\)/.exec(rolled.stdout)![1]).not.toBe(thumbprint);
    const keyDir = fs.readdirSync(path.join(state, 'accounts'));
    const keyFile = path.join(state, 'accounts', keyDir[0]!, 'account.key');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(keyFile))).toEqual(['account.key']);

    const renewed = cli('renew', 'example.test', '--force', '--log-level', 'info');
    expect(renewed.status).toBe(0);
    expect(renewed.stderr).toContain(`"account":"${url}"`);
  });

  test('deactivate needs --yes; then the account is deactivated, its key kept aside, and the next order registers a new one', () => {
    const refused = cli('account', 'deactivate');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('cannot be undone: run again with --yes');
    const url = /account: (\S+)/.exec(cli('account').stdout)![1]!;

    const done = cli('account', 'deactivate', '--yes');
    expect(done.status).toBe(0);
    expect(done.stdout).toContain(`account: ${url}\nstatus: deactivated`);
    expect(cli('account').stdout).toContain('account: none yet');

    const renewed = cli('renew', 'example.test', '--force', '--log-level', 'info');
    expect(renewed.status).toBe(0);
    const account = /"account":"([^"]+)"/.exec(renewed.stderr)![1];
    expect(account).not.toBe(url);
  });
});
