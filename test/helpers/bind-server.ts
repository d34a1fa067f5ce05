/**
 * A real BIND 9 (Debian's bind9: `named`) for tests: started in the foreground (`named -g`) on
 * 127.0.0.1 with a free port, as the authoritative primary of one dynamic zone that accepts DNS
 * UPDATE (RFC 2136) of TXT records signed with a TSIG key made by `tsig-keygen`. The zone has an
 * SOA, one NS (ns1.<zone>, 127.0.0.1), and A records (127.0.0.1) for the names given, so Pebble
 * (started with -dnsserver at this server) reaches an http-01 responder on 127.0.0.1. Recursion,
 * zone transfers, NOTIFY and rndc are off. `txt()` asks the server directly. stop() kills it and
 * removes its directory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import dns from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kill } from './pebble';
import { freePort } from './prosody-server';

export interface BindOptions {
  zone: string;
  /** Names (absolute, in the zone) that get an A record 127.0.0.1. */
  addresses?: string[];
  /** The TSIG key's name; default acme-key. */
  keyName?: string;
}

export interface RunningBind {
  port: number;
  zone: string;
  keyName: string;
  /** tsig-keygen's output (a BIND key file): what rfc2136.tsig.secretFile points at. */
  keyFile: string;
  /** A key of the same name with another secret. */
  wrongKeyFile: string;
  /** The TXT values the server answers for `name` now. */
  txt(name: string): Promise<string[]>;
  log(): string;
  stop(): Promise<void>;
}

export async function startBind(options: BindOptions): Promise<RunningBind> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bind-'));
  const zone = options.zone.replace(/\.$/, '');
  const keyName = options.keyName ?? 'acme-key';
  const port = await freePort();
  const keyFile = path.join(dir, 'tsig.key');
  const wrongKeyFile = path.join(dir, 'wrong.key');
  fs.writeFileSync(keyFile, execFileSync('tsig-keygen', ['-a', 'hmac-sha256', keyName]), { mode: 0o600 });
  fs.writeFileSync(wrongKeyFile, execFileSync('tsig-keygen', ['-a', 'hmac-sha256', keyName]), { mode: 0o600 });
  const records = (options.addresses ?? []).map((name) => `${name.replace(/\.$/, '')}. 60 IN A 127.0.0.1`);
  fs.writeFileSync(
    path.join(dir, 'zone.db'),
    [
      `$ORIGIN ${zone}.`,
      `@ 60 IN SOA ns1.${zone}. hostmaster.${zone}. 1 3600 600 86400 1`,
      `@ 60 IN NS ns1.${zone}.`,
      `ns1.${zone}. 60 IN A 127.0.0.1`,
      ...records,
      '',
    ].join('\n'),
  );
  const conf = path.join(dir, 'named.conf');
  fs.writeFileSync(
    conf,
    `options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  session-keyfile "${dir}/session.key";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  allow-transfer { none; };
  notify no;
};
controls { };
include "${keyFile}";
zone "${zone}" {
  type primary;
  file "${dir}/zone.db";
  update-policy { grant ${keyName} zonesub TXT; };
};
`,
  );
  let out = '';
  const child = spawn('named', ['-g', '-4', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const stop = async () => {
    await kill(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const txt = async (name: string) => {
    const resolver = new dns.promises.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
    const answers = await resolver.resolveTxt(name).catch((err: NodeJS.ErrnoException) => {
      if (err.code === dns.NODATA || err.code === dns.NOTFOUND) return [];
      throw err;
    });
    return answers.map((chunks) => chunks.join(''));
  };
  try {
    await waitReady(child, port, zone, () => out);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, zone, keyName, keyFile, wrongKeyFile, txt, log: () => out, stop };
}

async function waitReady(child: ChildProcess, port: number, zone: string, out: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`named exited with ${child.exitCode}:\n${out()}`);
    const resolver = new dns.promises.Resolver({ timeout: 500, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
    if (
      await resolver.resolveSoa(zone).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`named did not answer within 15 s:\n${out()}`);
}
