/**
 * DNS-01 by RFC 2136 with real parts: a real BIND 9 (authoritative for example.test, dynamic, with
 * a TSIG key from tsig-keygen) and a real Pebble resolving through it. `xmpp-cert renew` orders one
 * certificate for the VirtualHost (http-01, our standalone responder: Pebble finds it through
 * BIND's A record), a Component and a wildcard (dns-01: nsupdate adds the TXT records, every NS of
 * the zone is asked until it answers them, they are deleted afterwards). Then the failures: a wrong
 * TSIG key (clear reason, the installed certificate untouched) and a name server that never answers
 * (propagation times out, the record added is removed again). `config check` names each name's challenge.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBind, type RunningBind } from '../helpers/bind-server';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { runCli } from '../helpers/process';
import { freePort } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const NAMES = ['example.test', 'conference.example.test', '*.example.test'];

describeWithTools(['named', 'tsig-keygen', 'nsupdate', 'pebble', 'pebble-challtestsrv', 'openssl'], 'dns-01 by RFC 2136: BIND + Pebble', () => {
  jest.setTimeout(60_000);
  let bind: RunningBind;
  let pebble: RunningPebble;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-rfc2136-'));
  const certs = path.join(root, 'certs');
  const live = path.join(certs, 'example.test', 'fullchain.pem');

  beforeAll(async () => {
    bind = await startBind({ zone: 'example.test', addresses: ['example.test'] });
    pebble = await startPebble({ dnsServer: `127.0.0.1:${bind.port}`, noAuthzReuse: true });
  });

  afterAll(async () => {
    await pebble?.stop();
    await bind?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** The config file: http-01 for the VirtualHost, RFC 2136 for everything below it. */
  function writeConfig(file: string, rfc2136: Record<string, unknown> = {}): string {
    const config = {
      prosody: { config: null, certs },
      probes: { enabled: false },
      renewal: {
        stateDir: path.join(root, 'state'),
        retry: { count: 1, delay: 0 },
        certificates: [{ name: 'example.test', domains: NAMES }],
        issuers: [
          {
            type: 'acme',
            name: 'pebble',
            directory: pebble.directoryUrl,
            ca: [pebble.caFile],
            challenge: [
              { match: 'example.test', type: 'http-01', listen: `127.0.0.1:${pebble.httpPort}` },
              {
                match: '*.example.test',
                type: 'dns-01',
                rfc2136: {
                  server: '127.0.0.1',
                  port: bind.port,
                  tsig: { name: bind.keyName, secretFile: bind.keyFile },
                  propagationTimeout: '10s',
                  ...rfc2136,
                },
              },
            ],
          },
        ],
      },
    };
    const out = path.join(root, file);
    fs.writeFileSync(out, JSON.stringify(config));
    return out;
  }

  const records = async () => [...(await bind.txt('_acme-challenge.example.test')), ...(await bind.txt('_acme-challenge.conference.example.test'))];

  test('config check says which challenge each name gets', () => {
    const result = runCli(['config', 'check', '--config', writeConfig('check.yml')]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`example.test (group example.test, issuer pebble): http-01, standalone on 127.0.0.1:${pebble.httpPort}`);
    expect(result.stdout).toContain(
      `conference.example.test (group example.test, issuer pebble): dns-01, RFC 2136 update at 127.0.0.1:${bind.port} with key acme-key`,
    );
    expect(result.stdout).toContain(`*.example.test (group example.test, issuer pebble): dns-01, RFC 2136`);
  });

  test('the VirtualHost over http-01, a Component and a wildcard over dns-01; the TXT records are gone afterwards', async () => {
    const result = runCli(['renew', 'example.test', '--force', '--config', writeConfig('ok.yml')]);
    expect(result.stdout).toContain('1 renewed');
    expect(result.status).toBe(0);
    const leaf = new crypto.X509Certificate(fs.readFileSync(live));
    expect(leaf.subjectAltName?.split(', ').sort()).toEqual(NAMES.map((n) => `DNS:${n}`).sort());
    expect(leaf.verify(new crypto.X509Certificate(await pebble.intermediates()).publicKey)).toBe(true);
    // Both dns-01 values were published at BIND (its journal holds the updates) and none is left.
    expect(await records()).toEqual([]);
    expect(bind.log()).toMatch(/updating zone 'example\.test\/IN': adding an RR at '_acme-challenge\.conference\.example\.test' TXT/);
    expect(bind.log()).toMatch(/updating zone 'example\.test\/IN': deleting an RR at _acme-challenge\.example\.test TXT/);
  });

  test('a wrong TSIG key: challenge_setup naming the key, nothing installed, no record left', async () => {
    const before = fs.readFileSync(live, 'utf8');
    const result = runCli([
      'renew',
      'example.test',
      '--force',
      '--config',
      writeConfig('wrong-key.yml', { tsig: { name: bind.keyName, secretFile: bind.wrongKeyFile } }),
    ]);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('failed (challenge_setup)');
    expect(result.stdout).toContain(`key ${bind.keyName}`);
    expect(result.stdout).toContain('refused the TSIG signature');
    expect(result.stdout + result.stderr).not.toContain(fs.readFileSync(bind.wrongKeyFile, 'utf8').match(/secret "([^"]+)"/)![1]);
    expect(fs.readFileSync(live, 'utf8')).toBe(before);
    expect(await records()).toEqual([]);
  });

  test('a name server that never answers: propagation times out, the records added are removed, nothing installed', async () => {
    const before = fs.readFileSync(live, 'utf8');
    const silent = await freePort();
    const config = writeConfig('silent-ns.yml', { nameservers: [`127.0.0.1:${bind.port}`, `127.0.0.1:${silent}`], propagationTimeout: '2s' });
    const result = runCli(['renew', 'example.test', '--force', '--config', config]);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('failed (challenge_setup)');
    expect(result.stdout).toContain(`not answered by every authoritative server within 2 s: _acme-challenge.`);
    expect(result.stdout).toContain(`127.0.0.1:${silent}`);
    expect(result.stdout).not.toMatch(new RegExp(`at [^;]*127\\.0\\.0\\.1:${bind.port}[,;]`)); // BIND itself answered
    expect(bind.log()).toMatch(
      /adding an RR at '_acme-challenge\.conference\.example\.test' TXT[\s\S]*deleting an RR at _acme-challenge\.conference\.example\.test TXT/,
    );
    expect(await records()).toEqual([]);
    expect(fs.readFileSync(live, 'utf8')).toBe(before);
  });
});
