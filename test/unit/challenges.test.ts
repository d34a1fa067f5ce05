/**
 * The challenge responders on their own: the standalone http-01 server answers only registered
 * tokens and lets go of its port when the last one is removed; webroot writes readable token files
 * and removes them; the dns-01 hook gets add/remove with the record name and value (certbot's
 * variables too), and a failing hook is a challenge_setup error with the end of its stderr.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createResponder } from '../../src/renewal/challenges';
import { challengeRecordName } from '../../src/renewal/challenges/dns-hook';
import { RenewalError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import { get } from '../helpers/pebble';
import { freePort } from '../helpers/prosody-server';

const log = createLogger('silent');
let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-challenges-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
  });

describe('http-01 standalone', () => {
  test('answers registered tokens only, listens while tokens are registered', async () => {
    const port = await freePort();
    const responder = createResponder({ type: 'http-01', listen: { host: '127.0.0.1', port } }, log);
    const url = (token: string) => `http://127.0.0.1:${port}/.well-known/acme-challenge/${token}`;
    expect(await refused(port)).toBe(true);
    await responder.add('a.example.org', 'tokenA', 'tokenA.thumb');
    await responder.add('b.example.org', 'tokenB', 'tokenB.thumb');
    expect(await get(url('tokenA'))).toEqual({ status: 200, body: 'tokenA.thumb' });
    expect((await get(url('unknown'))).status).toBe(404);
    expect((await get(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    await responder.remove('a.example.org', 'tokenA', 'tokenA.thumb');
    expect((await get(url('tokenA'))).status).toBe(404);
    expect((await get(url('tokenB'))).body).toBe('tokenB.thumb');
    await responder.remove('b.example.org', 'tokenB', 'tokenB.thumb');
    expect(await refused(port)).toBe(true);
    // Listens again for the next order.
    await responder.add('a.example.org', 'tokenC', 'tokenC.thumb');
    expect((await get(url('tokenC'))).body).toBe('tokenC.thumb');
    await responder.close();
    expect(await refused(port)).toBe(true);
  });
});

describe('http-01 webroot', () => {
  test('writes a 0644 token file and removes it; refuses a token that is not base64url', async () => {
    const webroot = path.join(dir, 'www');
    const responder = createResponder({ type: 'http-01', webroot }, log);
    const file = path.join(webroot, '.well-known', 'acme-challenge', 'tok_en-1');
    await responder.add('example.org', 'tok_en-1', 'tok_en-1.thumb');
    expect(fs.readFileSync(file, 'utf8')).toBe('tok_en-1.thumb');
    expect(fs.statSync(file).mode & 0o777).toBe(0o644);
    await responder.remove('example.org', 'tok_en-1', 'tok_en-1.thumb');
    expect(fs.existsSync(file)).toBe(false);
    await expect(responder.add('example.org', '../../etc/x', 'v')).rejects.toMatchObject({ reason: 'challenge_setup' });
  });
});

describe('dns-01 hook', () => {
  test('record names, wildcard-aware', () => {
    expect(challengeRecordName('example.org')).toBe('_acme-challenge.example.org');
    expect(challengeRecordName('*.example.org')).toBe('_acme-challenge.example.org');
  });

  test('runs the hook with add/remove, the record and the value, and certbot variables', async () => {
    const out = path.join(dir, 'hook.out');
    const hook = ['sh', '-c', `echo "$0 $1 $2 $CERTBOT_DOMAIN $CERTBOT_VALIDATION" >> ${out}`];
    const responder = createResponder({ type: 'dns-01', hook, propagation: 0 }, log);
    await responder.add('example.org', 'token', 'digest-value');
    await responder.ready();
    await responder.remove('example.org', 'token', 'digest-value');
    expect(fs.readFileSync(out, 'utf8')).toBe(
      'add _acme-challenge.example.org digest-value example.org digest-value\nremove _acme-challenge.example.org digest-value example.org digest-value\n',
    );
  });

  test('a failing hook: challenge_setup with the end of its stderr', async () => {
    const responder = createResponder({ type: 'dns-01', hook: ['sh', '-c', 'echo "zone example.org not found" >&2; exit 3'], propagation: 0 }, log);
    const err = (await responder.add('example.org', 'token', 'v').catch((e: unknown) => e)) as RenewalError;
    expect(err).toBeInstanceOf(RenewalError);
    expect(err.reason).toBe('challenge_setup');
    expect(err.details.challenge).toBe('dns-01');
    expect(err.message).toContain('zone example.org not found');
  });

  test('ready() waits until the propagation time has passed since the last add', async () => {
    const responder = createResponder({ type: 'dns-01', hook: ['true'], propagation: 1 }, log);
    await responder.add('example.org', 't', 'v');
    const started = Date.now();
    await responder.ready();
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    const again = Date.now();
    await responder.ready();
    expect(Date.now() - again).toBeLessThan(100);
  });
});
