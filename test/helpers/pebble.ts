/**
 * A real ACME CA for tests: Debian's pebble (2.4) with pebble-challtestsrv as its DNS server, both
 * on loopback with free ports picked at run time. Pebble's HTTPS listener certificate is made with
 * openssl at start (SAN localhost and 127.0.0.1); trust `caFile` to talk to it. challtestsrv answers
 * every A query with 127.0.0.1 and no AAAA, so Pebble's validators reach a responder on 127.0.0.1
 * at `httpPort` for any name; TXT records for dns-01 are set through its management API.
 * PEBBLE_VA_NOSLEEP=1 and PEBBLE_WFE_NONCEREJECT=0 keep tests fast and free of random badNonce.
 * Pebble regenerates its root on each start: roots() fetches it. stop() kills both processes.
 * With `dnsServer`, Pebble resolves through that server instead (a real BIND, bind-server.ts).
 * certStatus() reads the management API's /cert-status-by-serial (Valid or Revoked).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './prosody-server';

export interface PebbleOptions {
  /** Lifetime of issued certificates, seconds. */
  certificateValidityPeriod?: number;
  /** EAB keys (kid -> base64url HMAC key); when set, Pebble requires EAB. */
  eab?: Record<string, string>;
  strict?: boolean;
  /** PEBBLE_VA_ALWAYS_VALID=1: every challenge passes without a request. */
  alwaysValid?: boolean;
  /** PEBBLE_AUTHZREUSE=0: every order validates again (by default Pebble reuses half the valid authorizations). */
  noAuthzReuse?: boolean;
  /** "127.0.0.1:PORT": resolve through this server (a real BIND) instead of challtestsrv. */
  dnsServer?: string;
  /** PEBBLE_ALTERNATE_ROOTS: more roots, each with its own chain to the same leaf (`/roots/1`, ...). */
  alternateRoots?: number;
}

export interface RunningPebble {
  directoryUrl: string;
  /** Pebble's listener certificate (self-signed): the CA file to trust for its HTTPS. */
  caFile: string;
  /** The listener's key, for a test proxy that poses as Pebble. */
  keyFile: string;
  managementUrl: string;
  /** The port Pebble's validators use for http-01. */
  httpPort: number;
  challtestsrv: { managementUrl: string; dnsPort: number };
  /** Root 0, or with alternateRoots another one. */
  roots(index?: number): Promise<string>;
  intermediates(): Promise<string>;
  /** The management API's record of a certificate by serial (hex): Status "Valid" or "Revoked", Reason. */
  certStatus(serialHex: string): Promise<{ Status: string; Reason?: number }>;
  setTxt(host: string, value: string): Promise<void>;
  clearTxt(host: string): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

export async function startPebble(options: PebbleOptions = {}): Promise<RunningPebble> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-pebble-'));
  const { caFile, keyFile } = listenerCertificate(dir);
  const ports = {
    acme: await freePort(),
    management: await freePort(),
    http: await freePort(),
    tls: await freePort(),
    dns: await freePort(),
    cts: await freePort(),
  };
  const configFile = path.join(dir, 'pebble-config.json');
  fs.writeFileSync(configFile, JSON.stringify({ pebble: pebbleConfig(options, ports, caFile, keyFile) }));
  let out = '';
  const collect = (child: ChildProcess) => {
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return child;
  };
  const cts = collect(
    spawn(
      'pebble-challtestsrv',
      [
        '-dns01',
        `127.0.0.1:${ports.dns}`,
        '-http01',
        '',
        '-https01',
        '',
        '-tlsalpn01',
        '',
        '-management',
        `127.0.0.1:${ports.cts}`,
        '-defaultIPv4',
        '127.0.0.1',
        '-defaultIPv6',
        '',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  const pebbleArgs = ['-config', configFile, '-dnsserver', options.dnsServer ?? `127.0.0.1:${ports.dns}`, ...(options.strict ? ['-strict'] : [])];
  const env = {
    ...process.env,
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_WFE_NONCEREJECT: '0',
    ...(options.alwaysValid ? { PEBBLE_VA_ALWAYS_VALID: '1' } : {}),
    ...(options.noAuthzReuse ? { PEBBLE_AUTHZREUSE: '0' } : {}),
    ...(options.alternateRoots ? { PEBBLE_ALTERNATE_ROOTS: String(options.alternateRoots) } : {}),
  };
  const pebble = collect(spawn('pebble', pebbleArgs, { stdio: ['ignore', 'pipe', 'pipe'], env }));
  const stop = async () => {
    await Promise.all([kill(pebble), kill(cts)]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const ca = fs.readFileSync(caFile);
  const directoryUrl = `https://127.0.0.1:${ports.acme}/dir`;
  const managementUrl = `https://127.0.0.1:${ports.management}`;
  const ctsUrl = `http://127.0.0.1:${ports.cts}`;
  try {
    await waitUntil(
      async () => (await get(directoryUrl, ca)).status === 200 && (await post(`${ctsUrl}/clear-txt`, { host: 'ready.test.' })) === 200,
      [pebble, cts],
      () => out,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    directoryUrl,
    caFile,
    keyFile,
    managementUrl,
    httpPort: ports.http,
    challtestsrv: { managementUrl: ctsUrl, dnsPort: ports.dns },
    roots: async (index = 0) => (await get(`${managementUrl}/roots/${index}`, ca)).body,
    intermediates: async () => (await get(`${managementUrl}/intermediates/0`, ca)).body,
    certStatus: async (serial) =>
      JSON.parse((await get(`${managementUrl}/cert-status-by-serial/${serial.toLowerCase().replace(/^0+/, '')}`, ca)).body) as {
        Status: string;
        Reason?: number;
      },
    setTxt: async (host, value) => void (await post(`${ctsUrl}/set-txt`, { host: fqdn(host), value })),
    clearTxt: async (host) => void (await post(`${ctsUrl}/clear-txt`, { host: fqdn(host) })),
    log: () => out,
    stop,
  };
}

function pebbleConfig(options: PebbleOptions, ports: Record<string, number>, caFile: string, keyFile: string) {
  return {
    listenAddress: `127.0.0.1:${ports.acme}`,
    managementListenAddress: `127.0.0.1:${ports.management}`,
    certificate: caFile,
    privateKey: keyFile,
    httpPort: ports.http,
    tlsPort: ports.tls,
    ocspResponderURL: '',
    externalAccountBindingRequired: options.eab !== undefined,
    ...(options.eab ? { externalAccountMACKeys: options.eab } : {}),
    ...(options.certificateValidityPeriod ? { certificateValidityPeriod: options.certificateValidityPeriod } : {}),
  };
}

function listenerCertificate(dir: string): { caFile: string; keyFile: string } {
  const caFile = path.join(dir, 'listener.pem');
  const keyFile = path.join(dir, 'listener.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      caFile,
    ],
    { stdio: 'pipe' },
  );
  return { caFile, keyFile };
}

const fqdn = (host: string) => (host.endsWith('.') ? host : `${host}.`);

export function get(url: string, ca?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // No pooled keep-alive sockets: they would outlive a test and could be reused after the server closed them.
    const req = (url.startsWith('https:') ? https : http).get(url, { ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

function post(url: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function waitUntil(ready: () => Promise<boolean>, children: ChildProcess[], out: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const exited = children.find((c) => c.exitCode !== null);
    if (exited) throw new Error(`${exited.spawnfile} exited with ${exited.exitCode}:\n${out()}`);
    if (await ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pebble did not answer within 15 s:\n${out()}`);
}

/** SIGTERM, SIGKILL after 5 s; resolves when the process has exited. */
export async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
