/**
 * A real Prosody (Debian's prosody 0.12) for tests: its own prosody.cfg.lua in a temp directory,
 * loopback only, free ports picked at run time, `certificates = "certs"` holding certificates the
 * test writes, run in the foreground (`prosody -F --config FILE`), `run_as_root` when uid 0.
 * reload() sends SIGHUP (what `prosodyctl reload` does); mod_posix, loaded by default, handles it
 * and Prosody re-reads its certificates. With `user` (root only), Prosody runs as that user (the
 * Debian package's `prosody`), as on a real server: its directory is that user's, the certificate
 * directory root's with that user's group (0750), so it reads only what the group may read.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface ProsodyPorts {
  c2s: number;
  s2s: number;
  c2sDirectTls: number;
  /** The extra direct-TLS services asked for in `directTls`, by Prosody's service name. */
  extra: Partial<Record<ExtraService, number>>;
}

export type ExtraService = 's2s_direct_tls' | 'legacy_ssl' | 'https';

export interface RunningProsody {
  dir: string;
  certs: string;
  /** prosody.cfg.lua, for `prosodyctl --config` and the exporter's prosody.config. */
  config: string;
  ports: ProsodyPorts;
  log: () => string;
  reload: () => void;
  /** Stops Prosody and starts it again on the same config and ports: a fresh certificate index (and Lua hash seed). */
  restart: () => Promise<void>;
  stop: () => Promise<void>;
}

/** Ports handed out by this process: the OS may give a port just closed again to the next caller. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1, never one this process handed out before (Pebble took the same
 * port for two listeners once: two calls in a row got the port the first had just closed).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

/**
 * `hosts` are VirtualHosts; `components` map a Component name to its module. `global` lines go
 * into the global section after the defaults (ssl tables, Includes, `enabled = false` hosts...),
 * `hostOptions` lines into a host's or Component's own section; `directTls` opens more direct-TLS
 * services on free ports; `writeCerts` also gets the config directory, for files beside the config.
 */
export async function startProsody(options: {
  hosts: string[];
  components?: Record<string, string>;
  writeCerts: (certsDir: string, configDir: string) => void | Promise<void>;
  global?: string[] | ((ports: ProsodyPorts) => string[]);
  hostOptions?: Record<string, string[]>;
  directTls?: ExtraService[];
  /** Log level of prosody.log; default info. */
  logLevel?: 'debug' | 'info';
  /** Run Prosody as this user (Debian's `prosody`) instead of root, when the tests run as root. */
  user?: string;
}): Promise<RunningProsody> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-prosody-'));
  const certs = path.join(dir, 'certs');
  fs.mkdirSync(certs);
  fs.mkdirSync(path.join(dir, 'data'));
  await options.writeCerts(certs, dir);
  const ids = options.user ? userIds(options.user) : undefined;
  if (ids) {
    fs.chmodSync(dir, 0o755);
    fs.chownSync(dir, ids.uid, ids.gid);
    fs.chownSync(path.join(dir, 'data'), ids.uid, ids.gid);
    fs.chownSync(certs, 0, ids.gid);
    fs.chmodSync(certs, 0o750);
  }
  const ports: ProsodyPorts = { c2s: await freePort(), s2s: await freePort(), c2sDirectTls: await freePort(), extra: {} };
  for (const service of options.directTls ?? []) ports.extra[service] = await freePort();
  const section = (name: string) => (options.hostOptions?.[name] ?? []).map((l) => `  ${l}`);
  const lua = [
    `pidfile = "${dir}/prosody.pid"`,
    `data_path = "${dir}/data"`,
    `log = { { levels = { min = "${options.logLevel ?? 'info'}" }, to = "file", filename = "${dir}/prosody.log" } }`,
    process.getuid?.() === 0 && !ids ? 'run_as_root = true' : '',
    'interfaces = { "127.0.0.1" }',
    'local_interfaces = { "127.0.0.1" }',
    `c2s_ports = { ${ports.c2s} }`,
    `s2s_ports = { ${ports.s2s} }`,
    `c2s_direct_tls_ports = { ${ports.c2sDirectTls} }`,
    'http_ports = { }',
    `https_ports = { ${ports.extra.https ?? ''} }`,
    ...(['s2s_direct_tls', 'legacy_ssl'] as const).filter((s) => ports.extra[s]).map((s) => `${s}_ports = { ${ports.extra[s]} }`),
    'certificates = "certs"',
    `modules_enabled = { "tls", "saslauth", "disco", "roster", "dialback"${ports.extra.https ? ', "http"' : ''} }`,
    // mod_posix (loaded by default) is what handles SIGHUP: reload config, certificates, logs.
    's2s_secure_auth = false',
    'authentication = "internal_hashed"',
    ...(typeof options.global === 'function' ? options.global(ports) : (options.global ?? [])),
    ...options.hosts.flatMap((h) => [`VirtualHost "${h}"`, ...section(h)]),
    ...Object.entries(options.components ?? {}).flatMap(([name, module]) => [`Component "${name}" "${module}"`, ...section(name)]),
  ].join('\n');
  const config = path.join(dir, 'prosody.cfg.lua');
  fs.writeFileSync(config, lua + '\n');
  let out = '';
  const launch = async () => {
    const started: ChildProcess = spawn('prosody', ['-F', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PROSODY_CONFIG: config },
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
    });
    started.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    started.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitForPort(ports.c2s, started, log);
    return started;
  };
  const log = () => out + (fs.existsSync(`${dir}/prosody.log`) ? fs.readFileSync(`${dir}/prosody.log`, 'utf8') : '');
  let child = await launch();
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  return {
    dir,
    certs,
    config,
    ports,
    log,
    reload: () => child.kill('SIGHUP'),
    restart: async () => {
      await stop();
      child = await launch();
    },
    stop,
  };
}

function userIds(user: string): { uid: number; gid: number } {
  const [, , uid, gid] = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`prosody exited with ${child.exitCode}:\n${log()}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`prosody did not listen on ${port} within 15 s:\n${log()}`);
}
