/**
 * prosody.cfg.lua and its Includes -> what Prosody 0.12's configmanager would hold: the hosts
 * (VirtualHost and Component, merged across definitions), their own options and the global ones
 * (the `ssl` tables, `<service>_ssl`, `<service>_ports`, `certificate(s)`, `enabled`, ...).
 *
 * Reading one file is lua-config.ts (a real Lua parser, no Lua run). This file follows `Include`
 * as configmanager's env.Include does (relative to the including file, a `*`/`?` glob in the last
 * segment, dot-files skipped) and merges sections as its `set` does (later assignments win, key by
 * key). Every file is read through safe-read (FIFOs and devices refused by type, size bounded).
 * The main file unreadable, or any file with a Lua syntax error, is thrown (DiscoveryError): Prosody
 * refuses to start then. An Include that cannot be read or matches nothing is a warning: one bad
 * conf.d file should not hide every host from the monitoring (Prosody itself would refuse it).
 * option() and rawOption() answer as configmanager.get and .rawget do, in O(1) per call. Files are
 * parsed in a worker thread (lua-config-thread.ts) so a large config does not hold the event loop.
 */
import fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { domainToASCII } from 'node:url';
import { DiscoveryError, messageOf } from '../shared/errors';
import { readRegularFile } from '../shared/safe-read';
import { readLuaConfig, type LuaConfigFile, type LuaValue, type Options } from './lua-config';
import { readLuaConfigOffThread } from './lua-config-thread';

export type { LuaValue, LuaTable, Options } from './lua-config';

export interface ProsodyHost {
  /** As Prosody names it: nameprep'd (lower case, NFKC), so a U-label stays Unicode. */
  name: string;
  /** The A-label form (IDNA ToASCII): what DNS, TLS SNI, certificates and our metrics use. */
  domain: string;
  kind: 'VirtualHost' | 'Component';
  /** The module of `Component "x" "muc"`; absent for a plain (external) Component. */
  module?: string;
  enabled: boolean;
  file: string;
  line: number;
  /** The section's own `certificate` option, as written (a path or a directory). */
  certificate?: string;
  /** Every option the host's own sections set, merged (later wins). */
  options: Options;
}

export interface ParsedProsodyConfig {
  /** Every definition in file order; a name defined twice appears twice (loadProsodyConfig merges). */
  hosts: ProsodyHost[];
  global: Options;
  /** `Include` patterns in file order, as written. */
  includes: string[];
  syntaxError?: { line: number; message: string };
}

export interface ProsodyConfig {
  /** The main config file, absolute. */
  path: string;
  /** Its directory: what Prosody resolves relative paths against (prosody.paths.config). */
  dir: string;
  /** Hosts from every file, first definition first; each name once. */
  hosts: ProsodyHost[];
  /** Hosts by Prosody's name. */
  byName: ReadonlyMap<string, ProsodyHost>;
  global: Options;
  /** The `certificates` option resolved against dir; undefined when not set. */
  certificatesDir?: string;
  /** The global `certificate` option, resolved like certificatesDir. */
  certificate?: string;
  /** Every config file read, in reading order. */
  files: string[];
  /** Includes that could not be read or matched nothing, and include cycles. */
  warnings: string[];
}

/** Config files are small; 64 MiB leaves room for 100,000 VirtualHosts with options. */
const MAX_CONFIG_BYTES = 64 * 1024 * 1024;

/** A-label form of a Prosody host name; the name itself when it is not a valid IDN. */
export function aLabel(name: string): string {
  if ([...name].every((c) => c.charCodeAt(0) < 0x80)) return name;
  return domainToASCII(name) || name;
}

function hostsOf(file: LuaConfigFile, path: string): ProsodyHost[] {
  return file.sections.map((s) => {
    const certificate = s.options.get('certificate');
    const enabled = s.options.get('enabled');
    return {
      name: s.name,
      domain: aLabel(s.name),
      kind: s.kind,
      ...(s.module ? { module: s.module } : {}),
      enabled: typeof enabled === 'boolean' ? enabled : true,
      file: path,
      line: s.line,
      ...(typeof certificate === 'string' ? { certificate } : {}),
      options: s.options,
    };
  });
}

/** One file's text on its own (no Includes followed); for tests and tools. Never throws. */
export function parseProsodyConfig(text: string | Buffer, file: string): ParsedProsodyConfig {
  const read = readLuaConfig(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  const hosts = hostsOf(read, file);
  const globalEnabled = read.global.get('enabled');
  for (const h of hosts) if (!h.options.has('enabled') && typeof globalEnabled === 'boolean') h.enabled = globalEnabled;
  return { hosts, global: read.global, includes: read.includes.map((i) => i.pattern), ...(read.syntaxError ? { syntaxError: read.syntaxError } : {}) };
}

// ---- loading: files, Includes, merging -------------------------------------------------

interface Loader {
  files: string[];
  /** Real paths of files read, and of the Include chain being read now (for cycles). */
  seen: Set<string>;
  stack: string[];
  hosts: Map<string, ProsodyHost>;
  global: Options;
  warnings: string[];
}

export async function loadProsodyConfig(path: string): Promise<ProsodyConfig> {
  const main = resolve(path);
  const ld: Loader = { files: [], seen: new Set(), stack: [], hosts: new Map(), global: new Map(), warnings: [] };
  await absorb(ld, main, readConfigFile(main, undefined));
  return finish(ld, main);
}

/** The main file (from undefined) throws; an Included one gives undefined and a warning. */
function readConfigFile(file: string, from: string | undefined, ld?: Loader): Buffer | undefined {
  try {
    return readRegularFile(file, MAX_CONFIG_BYTES);
  } catch (err) {
    if (from && ld) {
      ld.warnings.push(`${from}: cannot read included ${file}: ${messageOf(err)} (Prosody refuses to start with this Include)`);
      return undefined;
    }
    throw new DiscoveryError(
      `cannot read the Prosody config ${file}: ${messageOf(err)}; set prosody.config to the ` +
        `prosody.cfg.lua Prosody runs with (or null to skip it) and let the exporter's user read it`,
      file,
      { cause: err },
    );
  }
}

async function absorb(ld: Loader, file: string, bytes: Buffer | undefined): Promise<void> {
  if (!bytes) return;
  const real = realOrSelf(file);
  ld.files.push(file);
  ld.seen.add(real);
  ld.stack.push(real);
  const read = await readLuaConfigOffThread(bytes);
  if (read.syntaxError) {
    const { line, message } = read.syntaxError;
    throw new DiscoveryError(
      `${file}:${line}: Lua syntax error: ${message} (Prosody refuses to start with this config; \`prosodyctl check config\` says the same)`,
      file,
    );
  }
  markFile(read, file);
  merge(ld, read, file);
  for (const { pattern, line } of read.includes) {
    const targets = expandInclude(ld, `${file}:${line}`, file, pattern);
    for (const target of targets) await includeFile(ld, `${file}:${line}`, target);
  }
  ld.stack.pop();
}

/** Every table read from `file` learns where it came from, so an error can name the file and line. */
function markFile(read: LuaConfigFile, file: string): void {
  const mark = (value: LuaValue): void => {
    if (typeof value !== 'object' || value.kind !== 'table') return;
    value.file = file;
    for (const inner of value.fields.values()) mark(inner);
  };
  for (const options of [read.global, ...read.sections.map((s) => s.options)]) for (const value of options.values()) mark(value);
}

async function includeFile(ld: Loader, from: string, target: string): Promise<void> {
  const real = realOrSelf(target);
  if (ld.stack.includes(real)) {
    ld.warnings.push(`${from}: Include of ${target} is an include cycle; skipped it`);
    return;
  }
  if (ld.seen.has(real)) return; // already read once; reading it again would add nothing
  await absorb(ld, target, readConfigFile(target, from, ld));
}

/** env.Include: relative to the including file's directory; a glob matches names in its last segment, dot-files skipped. */
function expandInclude(ld: Loader, from: string, file: string, pattern: string): string[] {
  const target = resolve(dirname(file), pattern);
  if (!/[*?]/.test(basename(pattern))) return [target];
  const dir = dirname(target);
  try {
    const re = globToRegExp(basename(pattern));
    const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.') && re.test(n));
    if (names.length === 0) ld.warnings.push(`${from}: Include "${pattern}" matches no file in ${dir}`);
    return names.sort().map((n) => join(dir, n)); // sorted: readdir order is the file system's
  } catch (err) {
    ld.warnings.push(`${from}: cannot list ${dir} for Include "${pattern}": ${messageOf(err)} (Prosody refuses to start with this Include)`);
    return [];
  }
}

function globToRegExp(glob: string): RegExp {
  const body = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.+()[\]{}|/]/, '\\$&')));
  return new RegExp(`^${body.join('')}$`, 's');
}

const realOrSelf = (file: string) => {
  try {
    return fs.realpathSync(file);
  } catch {
    return file;
  }
};

/**
 * configmanager's `set`, key by key: a later definition of a host changes only what it sets; the
 * first definition keeps its place, kind and line (a later Component definition sets the module).
 */
function merge(ld: Loader, read: LuaConfigFile, file: string): void {
  for (const [key, value] of read.global) ld.global.set(key, value);
  for (const host of hostsOf(read, file)) {
    const earlier = ld.hosts.get(host.name);
    if (!earlier) {
      ld.hosts.set(host.name, { ...host, options: new Map(host.options) });
      continue;
    }
    for (const [key, value] of host.options) earlier.options.set(key, value);
    if (host.module) earlier.module = host.module;
  }
}

function finish(ld: Loader, main: string): ProsodyConfig {
  const dir = dirname(main);
  const abs = (p: LuaValue | undefined) => (typeof p === 'string' ? resolve(dir, p) : undefined);
  const globalEnabled = ld.global.get('enabled');
  const hosts = [...ld.hosts.values()].map((h) => {
    // hostmanager reads `enabled` per host with the global section as fallback.
    const own = h.options.get('enabled');
    const enabled = typeof own === 'boolean' ? own : typeof globalEnabled === 'boolean' ? globalEnabled : true;
    const certificate = h.options.get('certificate');
    const { certificate: _old, ...rest } = h;
    return { ...rest, enabled, ...(typeof certificate === 'string' ? { certificate: resolve(dir, certificate) } : {}) };
  });
  const certificatesDir = abs(ld.global.get('certificates'));
  const certificate = abs(ld.global.get('certificate'));
  return {
    path: main,
    dir,
    hosts,
    byName: new Map(hosts.map((h) => [h.name, h])),
    global: ld.global,
    ...(certificatesDir ? { certificatesDir } : {}),
    ...(certificate ? { certificate } : {}),
    files: ld.files,
    warnings: ld.warnings,
  };
}

// ---- helpers for callers ---------------------------------------------------------------

export function enabledHosts(cfg: { hosts: readonly ProsodyHost[] }): ProsodyHost[] {
  return cfg.hosts.filter((h) => h.enabled);
}

/** The directory Prosody searches: its `certificates` option, else `certs` beside the config. */
export function effectiveCertsDir(cfg: ProsodyConfig): string {
  return cfg.certificatesDir ?? resolve(cfg.dir, 'certs');
}

/** configmanager.get(host, key): the host's own option, else the global one (also for names that are no host). */
export function option(cfg: ProsodyConfig | undefined, host: string, key: string): LuaValue | undefined {
  if (!cfg) return undefined;
  const own = cfg.byName.get(host)?.options.get(key);
  return own !== undefined ? own : cfg.global.get(key);
}

/** configmanager.rawget(host, key): the host's own option only; "*" is the global section. */
export function rawOption(cfg: ProsodyConfig | undefined, host: string | undefined, key: string): LuaValue | undefined {
  if (!cfg || host === undefined) return undefined;
  if (host === '*') return cfg.global.get(key);
  return cfg.byName.get(host)?.options.get(key);
}

/**
 * The `certificate` option Prosody 0.12 sees for a name (a host or a parent domain), absolute: the
 * section's own, else the global one (configmanager falls back to "*" for unknown names too).
 */
export function certificateOption(cfg: ProsodyConfig, name: string): string | undefined {
  const value = option(cfg, name, 'certificate');
  return typeof value === 'string' ? resolve(cfg.dir, value) : undefined;
}
