/**
 * The agreement suite's two oracles and the exporter's view of one lab: the real `prosodyctl
 * check certs` (run once per lab: it reports every host), the real exporter core (scanner,
 * prober, evaluate) pointed at the lab's prosody.cfg.lua, with an endpoint per host and service
 * on the lab Prosody's ports (so the served leaf of every endpoint is compared with the file the
 * exporter names for that endpoint's service).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { configSchema } from '../../src/config';
import { evaluate, type Report } from '../../src/evaluate';
import { createLogger } from '../../src/shared/log';
import { InventoryScanner } from '../../src/sources/inventory';
import { LiveProber } from '../../src/sources/live';
import { DAY, mint, type TestCA } from './certs';
import type { RunningProsody } from './prosody-server';

export interface CheckedHost {
  certificate?: string;
  error?: string;
  noCertificate: boolean;
  expired: boolean;
}

/** `prosodyctl --config FILE check certs`, parsed per "Checking certificate for HOST" block. */
export function prosodyctlCheckCerts(config: string): Map<string, CheckedHost> {
  const run = spawnSync('prosodyctl', ['--config', config, 'check', 'certs'], { encoding: 'utf8', timeout: 30_000 });
  const hosts = new Map<string, CheckedHost>();
  let current: CheckedHost | undefined;
  for (const line of `${run.stdout}\n${run.stderr}`.split('\n')) {
    const start = /^Checking certificate for (.+)$/.exec(line);
    if (start) hosts.set(start[1]!, (current = { noCertificate: false, expired: false }));
    if (!current) continue;
    const cert = /^ {2}Certificate: (.+)$/.exec(line);
    if (cert) current.certificate = cert[1]!;
    const error = /^ {2}Error: (.+)$/.exec(line);
    if (error) current.error = error[1]!;
    if (/^ {2}No 'certificate' found/.test(line)) current.noCertificate = true;
    if (/Certificate has expired/.test(line)) current.expired = true;
  }
  if (hosts.size === 0) throw new Error(`prosodyctl check certs reported no host:\n${run.stdout}\n${run.stderr}`);
  return hosts;
}

type Service = 'c2s' | 's2s' | 'https';

/** One probe per (domain, endpoint) on the lab's ports; Components get no c2s (the exporter never probes them). */
export function labEndpoints(prosody: RunningProsody, domains: string[]) {
  const { ports } = prosody;
  const list: Array<{ port: number; service: Service; tls: 'starttls' | 'direct' }> = [
    { port: ports.c2s, service: 'c2s', tls: 'starttls' },
    { port: ports.s2s, service: 's2s', tls: 'starttls' },
    { port: ports.c2sDirectTls, service: 'c2s', tls: 'direct' },
  ];
  if (ports.extra.legacy_ssl) list.push({ port: ports.extra.legacy_ssl, service: 'c2s', tls: 'direct' });
  if (ports.extra.s2s_direct_tls) list.push({ port: ports.extra.s2s_direct_tls, service: 's2s', tls: 'direct' });
  if (ports.extra.https) list.push({ port: ports.extra.https, service: 'https', tls: 'direct' });
  return domains.flatMap((domain) => list.map((e) => ({ domain, host: '127.0.0.1', ...e })));
}

/** The exporter's Report for the lab: scan prosody.cfg.lua and its certificates, probe every endpoint, judge. */
export async function exporterReport(prosody: RunningProsody, domains: string[], ca: string): Promise<Report> {
  const config = configSchema.parse({
    prosody: { config: prosody.config },
    probes: { srv: false, ca: [ca], timeout: 5, concurrency: 8, endpoints: labEndpoints(prosody, domains) },
  });
  const inventory = await new InventoryScanner(config).scan();
  const components = new Set(inventory.domains.filter((d) => d.origin === 'Component').map((d) => d.name));
  const prober = new LiveProber(config.probes, createLogger('silent'), () => undefined);
  await prober.runOnce(
    inventory.domains.map((d) => d.name),
    components,
  );
  return evaluate(inventory, config.thresholds, Date.now() / 1000, prober.snapshot());
}

/** A certificate for `names` from `ca`, written as `certFile` (leaf + CA) and `keyFile` (0600), directories made. */
export async function writePair(ca: TestCA, names: string[], certFile: string, keyFile: string, notAfter = 40 * DAY): Promise<void> {
  const c = await mint({ names, notAfter, issuer: ca });
  fs.mkdirSync(path.dirname(certFile), { recursive: true });
  fs.writeFileSync(certFile, c.pem + ca.pem);
  fs.writeFileSync(keyFile, c.keyPem, { mode: 0o600 });
}
