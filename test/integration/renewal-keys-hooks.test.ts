/**
 * Key reuse for DANE and the run hooks, with `xmpp-cert renew` against a real Pebble:
 * - renewal.key.reuse keeps the SPKI over two renewals (a published 3 1 1 record keeps matching);
 *   `renew --rotate-key` and key.maxAge switch to the prepared next key (whose record `xmpp-cert
 *   tlsa` printed before the switch); reuse off makes a fresh key and forgets the next one;
 * - the reload command gets TLSA_3_1_1 / TLSA_2_1_1 / TLSA_NEXT_3_1_1, equal to what openssl computes;
 * - pre and post hooks run in order around the run (with the group's names), also when the order
 *   fails (the CA is down) and when pre fails (then nothing is ordered).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { opensslSpkiSha256 } from '../helpers/openssl';
import { startPebble, type RunningPebble } from '../helpers/pebble';
import { runCli } from '../helpers/process';
import { freePort } from '../helpers/prosody-server';
import { describeWithTools } from '../helpers/tools';

const NAMES = ['example.test', 'conference.example.test'];

describeWithTools(['pebble', 'pebble-challtestsrv', 'openssl'], 'key reuse, TLSA and hooks against Pebble', () => {
  jest.setTimeout(60_000);
  let pebble: RunningPebble;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-keys-'));
  const certs = path.join(root, 'certs');
  const state = path.join(root, 'state');
  const events = path.join(root, 'events.log');
  const reloadEnv = path.join(root, 'reload.env');
  const live = (file: string) => path.join(certs, 'example.test', file);
  const nextKey = path.join(state, 'keys', 'example.test', 'next.pem');

  function script(name: string, body: string): string {
    const file = path.join(root, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  }

  let hooks: { pre: string; post: string; failingPre: string; reload: string };
  beforeAll(async () => {
    pebble = await startPebble({ noAuthzReuse: true });
    hooks = {
      pre: script('pre.sh', `echo "pre $XMPP_CERT_GROUP $XMPP_CERT_DOMAINS" >> ${events}`),
      post: script('post.sh', `echo "post $XMPP_CERT_RESULT \${XMPP_CERT_REASON:-} $RENEWED_LINEAGE" >> ${events}`),
      failingPre: script('failing-pre.sh', `echo "pre failing" >> ${events}; echo "port 80 is still busy" >&2; exit 3`),
      reload: script('reload.sh', `echo reload >> ${events}; env | grep '^TLSA_' | sort > ${reloadEnv}`),
    };
  });

  afterAll(async () => {
    await pebble?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  function renew(options: { reuse?: boolean; maxAge?: string; directory?: string; pre?: string; args?: string[] } = {}) {
    const config = {
      prosody: { config: null, certs },
      probes: { enabled: false },
      renewal: {
        stateDir: state,
        retry: { count: 1, delay: 0 },
        certificates: [{ name: 'example.test', domains: NAMES }],
        key: { reuse: options.reuse ?? true, ...(options.maxAge ? { maxAge: options.maxAge } : {}) },
        hooks: { pre: [options.pre ?? hooks.pre], post: [hooks.post] },
        reload: { command: [hooks.reload] },
        issuers: [
          {
            type: 'acme',
            directory: options.directory ?? pebble.directoryUrl,
            ca: [pebble.caFile],
            challenge: { type: 'http-01', listen: `127.0.0.1:${pebble.httpPort}` },
          },
        ],
      },
    };
    const file = path.join(root, 'xmpp-cert.yml');
    fs.writeFileSync(file, JSON.stringify(config));
    fs.rmSync(events, { force: true });
    const result = runCli(['renew', 'example.test', '--force', ...(options.args ?? []), '--config', file]);
    const lines = fs.existsSync(events) ? fs.readFileSync(events, 'utf8').trim().split('\n') : [];
    return { ...result, events: lines, config: file };
  }

  const spki = () => opensslSpkiSha256(live('fullchain.pem'), 'cert');
  const serial = () => new crypto.X509Certificate(fs.readFileSync(live('fullchain.pem'))).serialNumber;
  const env = () =>
    Object.fromEntries(
      fs
        .readFileSync(reloadEnv, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split('=') as [string, string]),
    );

  let first: string;
  let tlsaOutput: string;

  test('first renewal: a fresh key, a next key prepared 0600; the reload command gets TLSA values equal to openssl', () => {
    const result = renew();
    expect(result.status).toBe(0);
    first = spki();
    expect(opensslSpkiSha256(live('privkey.pem'), 'key')).toBe(first);
    expect(fs.statSync(nextKey).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(nextKey)).mode & 0o777).toBe(0o700);
    const intermediate = path.join(root, 'intermediate.pem');
    fs.writeFileSync(intermediate, fs.readFileSync(live('fullchain.pem'), 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/)[1]!);
    expect(env()).toEqual({
      TLSA_3_1_1: first,
      TLSA_2_1_1: opensslSpkiSha256(intermediate, 'cert'),
      TLSA_NEXT_3_1_1: opensslSpkiSha256(nextKey, 'key'),
    });
    expect(result.events).toEqual(['pre example.test example.test conference.example.test', 'reload', `post renewed  ${path.join(certs, 'example.test')}`]);
  });

  test('xmpp-cert tlsa prints 3 1 1 for the current and the next key and 2 1 1 for the CA', () => {
    const result = runCli(['tlsa', 'example.test', '--config', path.join(root, 'xmpp-cert.yml')]);
    expect(result.status).toBe(0);
    tlsaOutput = result.stdout;
    const next = opensslSpkiSha256(nextKey, 'key');
    expect(tlsaOutput).toContain(`_5222._tcp.example.test. IN TLSA 3 1 1 ${first}\n_5269._tcp.example.test. IN TLSA 3 1 1 ${first}\n; next key`);
    expect(tlsaOutput).toContain(`_5269._tcp.example.test. IN TLSA 3 1 1 ${next}`);
    expect(tlsaOutput).toContain(`IN TLSA 2 1 1 ${env().TLSA_2_1_1}`);
    const owners = runCli(['tlsa', 'conference.example.test', '--host', 'xmpp.example.test', '--port', '5269', '--config', path.join(root, 'xmpp-cert.yml')]);
    expect(owners.stdout).toContain(`_5269._tcp.xmpp.example.test. IN TLSA 3 1 1 ${first}`);
    expect(owners.stdout).not.toContain('_5222');
  });

  test('a second renewal reuses the key: a new certificate, the same SPKI, the same next key', () => {
    const before = { serial: serial(), next: fs.readFileSync(nextKey, 'utf8') };
    const result = renew();
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('key: reusing the installed key (in use since');
    expect(serial()).not.toBe(before.serial);
    expect(spki()).toBe(first);
    expect(fs.readFileSync(nextKey, 'utf8')).toBe(before.next);
  });

  test('renew --rotate-key switches to the key whose record tlsa printed before; a new next key is prepared', () => {
    const announced = opensslSpkiSha256(nextKey, 'key');
    const result = renew({ args: ['--rotate-key'] });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('key: switching to the prepared next key: rotation asked for');
    expect(spki()).toBe(announced);
    expect(tlsaOutput).toContain(`IN TLSA 3 1 1 ${announced}`);
    expect(opensslSpkiSha256(nextKey, 'key')).not.toBe(announced);
    expect(env().TLSA_3_1_1).toBe(announced);
  });

  test('key.maxAge: a key older than that is rotated at the next renewal', () => {
    const current = spki();
    const upcoming = opensslSpkiSha256(nextKey, 'key');
    // Backdate when the key came into use (the worker's own record), as if two days had passed.
    const record = path.join(state, 'keys', 'example.test', 'key.json');
    const json = JSON.parse(fs.readFileSync(record, 'utf8')) as { spki: string; since: number };
    expect(json.spki).toBe(current);
    fs.writeFileSync(record, JSON.stringify({ ...json, since: json.since - 2 * 86400 }));
    const result = renew({ maxAge: '1d' });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('the key is older than renewal.key.maxAge');
    expect(spki()).toBe(upcoming);
  });

  test('the order fails (CA down): pre, then post with the result and reason; the key and certificate stay', async () => {
    const before = { spki: spki(), serial: serial() };
    const result = renew({ directory: `https://127.0.0.1:${await freePort()}/dir` });
    expect(result.status).toBe(1);
    expect(result.events).toEqual(['pre example.test example.test conference.example.test', `post failed connection ${path.join(certs, 'example.test')}`]);
    expect({ spki: spki(), serial: serial() }).toEqual(before);
  });

  test('pre fails: nothing is ordered, reason hook, post still runs', () => {
    const before = serial();
    const result = renew({ pre: hooks.failingPre });
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('failed (hook)');
    expect(result.stdout).toContain('exited with 3: port 80 is still busy; nothing was ordered');
    expect(result.stdout).not.toContain('attempt 1/1');
    expect(result.events).toEqual(['pre failing', `post failed hook ${path.join(certs, 'example.test')}`]);
    expect(serial()).toBe(before);
  });

  test('reuse off: a fresh key at each renewal, and the prepared next key is removed', () => {
    const before = spki();
    const result = renew({ reuse: false });
    expect(result.status).toBe(0);
    expect(spki()).not.toBe(before);
    expect(fs.existsSync(path.dirname(nextKey))).toBe(false);
    expect(env().TLSA_NEXT_3_1_1).toBeUndefined();
  });
});
