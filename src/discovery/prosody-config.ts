/**
 * prosody.cfg.lua -> the hosts Prosody 0.12 would define, their `enabled` flags, the
 * `certificates` directory and `certificate` options, following `Include` directives.
 *
 * parseProsodyConfig is pure and never throws: it reads tokens (see lua-tokens.ts), not Lua, so it
 * understands literal statements only (`VirtualHost "x"`, `Component("x") "muc"`, `enabled = false`,
 * `certificates = "certs"`) and skips anything computed (`certificates = ENV_DIR .. "/certs"`,
 * `VirtualHost(name)`, options inside `if` branches are taken as written). It does not run
 * RunScript, does not read `ssl = { ... }` tables and does not validate the config.
 * loadProsodyConfig does the file I/O: only an unreadable main file is thrown (DiscoveryError);
 * problems with Included files become warnings, so one bad conf.d file does not hide every host.
 */
import { readdir, readFile, realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DiscoveryError, messageOf } from '../shared/errors';
import { tokenizeLua, type Token } from './lua-tokens';

export interface ProsodyHost {
  /** Lower-cased, as Prosody's nameprep leaves an ASCII name. */
  name: string;
  kind: 'VirtualHost' | 'Component';
  /** The module of `Component "x" "muc"`; absent for a plain (external) Component. */
  module?: string;
  enabled: boolean;
  file: string;
  line: number;
  /** The section's own `certificate` option: as written after parseProsodyConfig, absolute after loadProsodyConfig. */
  certificate?: string;
}

export interface ParsedProsodyConfig {
  /** Every definition in file order; a name defined twice appears twice (loadProsodyConfig merges). */
  hosts: ProsodyHost[];
  /** The global `certificates` option, as written. */
  certificates?: string;
  /** The global `certificate` option, as written: Prosody uses it for every host without its own. */
  certificate?: string;
  /** The global `enabled` option: the default for every host that does not set its own. */
  enabled?: boolean;
  /** `Include` patterns in file order, as written. */
  includes: string[];
}

export interface ProsodyConfig {
  /** The main config file, absolute. */
  path: string;
  /** Hosts from every file, first definition first; each name once. */
  hosts: ProsodyHost[];
  /** The `certificates` option resolved against the main file's directory; undefined when not set. */
  certificatesDir?: string;
  /** The global `certificate` option, resolved like certificatesDir. */
  certificate?: string;
  /** Every config file read, in reading order. */
  files: string[];
  /** Included files or directories that could not be read, and include cycles. */
  warnings: string[];
}

const HOST_WORDS = new Map<string, ProsodyHost['kind']>([
  ['VirtualHost', 'VirtualHost'],
  ['Host', 'VirtualHost'],
  ['host', 'VirtualHost'],
  ['Component', 'Component'],
  ['component', 'Component'],
]);
const INCLUDE_WORDS = new Set(['Include', 'include']);
// A token before a name that makes it something other than the start of a statement.
const NOT_A_STATEMENT_AFTER = new Set(['.', ':', 'local', 'function', 'goto', '::']);
// Tokens after a value that make it part of a longer expression: too complex to read.
const CONTINUES = new Set([
  '..',
  '==',
  '~=',
  '<',
  '>',
  '<=',
  '>=',
  '+',
  '-',
  '*',
  '/',
  '//',
  '%',
  '^',
  '.',
  ':',
  '[',
  '(',
  '{',
  '&',
  '|',
  '~',
  '<<',
  '>>',
  'and',
  'or',
]);

interface ParseState {
  toks: Token[];
  file: string;
  out: ParsedProsodyConfig;
  depth: number;
  /** The section options go to; undefined is the global section. */
  host?: ProsodyHost;
  /** Set while inside `VirtualHost "x" { ... }`: the depth of that table's fields. */
  tableDepth?: number;
}

/** Hosts whose own section sets `enabled`; the others follow the global option (hostmanager's fallback). */
const ownEnabled = new WeakSet<ProsodyHost>();

export function parseProsodyConfig(text: string, file: string): ParsedProsodyConfig {
  const st: ParseState = { toks: tokenizeLua(text), file, out: { hosts: [], includes: [] }, depth: 0 };
  let i = 0;
  while (i < st.toks.length) i = statement(st, i);
  applyGlobalEnabled(st.out.hosts, st.out.enabled);
  return st.out;
}

/** Prosody's load_enabled_hosts reads `enabled` per host with the global section as fallback. */
function applyGlobalEnabled(hosts: Iterable<ProsodyHost>, global: boolean | undefined): void {
  for (const host of hosts) if (!ownEnabled.has(host)) host.enabled = global ?? true;
}

/** Handles the token at i; returns the index of the next token to look at. */
function statement(st: ParseState, i: number): number {
  const tok = st.toks[i]!;
  if (tok.kind === 'op') bracket(st, tok.text);
  if (tok.kind !== 'name' || !startsStatement(st, i)) return i + 1;
  const kind = HOST_WORDS.get(tok.text);
  if (kind && st.depth === 0) return hostHeader(st, i, kind);
  if (INCLUDE_WORDS.has(tok.text) && st.depth === 0) return include(st, i);
  if (isOp(st.toks[i + 1], '=')) return option(st, i);
  return i + 1;
}

function bracket(st: ParseState, op: string): void {
  if ('({['.includes(op)) st.depth++;
  if (!')}]'.includes(op)) return;
  st.depth = Math.max(0, st.depth - 1);
  // Prosody returns to the global section once the options table of `VirtualHost "x" {...}` is read.
  if (st.tableDepth !== undefined && st.depth < st.tableDepth) {
    st.host = undefined;
    st.tableDepth = undefined;
  }
}

function startsStatement(st: ParseState, i: number): boolean {
  const before = st.toks[i - 1];
  // A string's text is data: `x = "local"` must not look like the keyword.
  const prev = before?.kind === 'string' ? '"' : before?.text;
  if (st.depth === 0) return prev === undefined || !NOT_A_STATEMENT_AFTER.has(prev);
  return st.depth === st.tableDepth && (prev === '{' || prev === ',' || prev === ';');
}

function hostHeader(st: ParseState, i: number, kind: ProsodyHost['kind']): number {
  const arg = stringArg(st.toks, i + 1);
  if (!arg) return i + 1;
  const mod = kind === 'Component' ? stringArg(st.toks, arg.next) : undefined;
  enterHost(st, { name: arg.value.toLowerCase(), kind, enabled: true, file: st.file, line: st.toks[i]!.line });
  if (mod && st.host) st.host.module = mod.value;
  const next = mod ? mod.next : arg.next;
  if (isOp(st.toks[next], '{')) st.tableDepth = 1;
  return next;
}

function enterHost(st: ParseState, host: ProsodyHost): void {
  st.tableDepth = undefined;
  // `VirtualHost "*"` is how a Prosody config goes back to the global section.
  st.host = host.name === '*' ? undefined : host;
  if (st.host) st.out.hosts.push(st.host);
}

function include(st: ParseState, i: number): number {
  const arg = stringArg(st.toks, i + 1);
  if (!arg) return i + 1;
  if (!continues(st.toks[arg.next])) st.out.includes.push(arg.value);
  return arg.next;
}

function option(st: ParseState, i: number): number {
  const value = literal(st.toks, i + 2);
  if (value !== undefined) applyOption(st, st.toks[i]!.text, value);
  return i + 2;
}

function applyOption(st: ParseState, key: string, value: string | boolean): void {
  if (key === 'enabled' && typeof value === 'boolean') {
    if (st.host) {
      st.host.enabled = value;
      ownEnabled.add(st.host);
    } else st.out.enabled = value;
  }
  if (typeof value !== 'string') return;
  if (key === 'certificate' && st.host) st.host.certificate = value;
  else if (key === 'certificate') st.out.certificate = value;
  // Prosody reads `certificates` from the global section only (configmanager.get("*", ...)).
  if (key === 'certificates' && !st.host) st.out.certificates = value;
}

/** `"x"` or `("x")` at j: Lua's two ways to call with one string. */
function stringArg(toks: Token[], j: number): { value: string; next: number } | undefined {
  const t = toks[j];
  if (t?.kind === 'string') return { value: t.text, next: j + 1 };
  const inner = toks[j + 1];
  if (isOp(t, '(') && inner?.kind === 'string' && isOp(toks[j + 2], ')')) return { value: inner.text, next: j + 3 };
  return undefined;
}

/** A string or boolean standing alone at j; undefined for anything computed. */
function literal(toks: Token[], j: number): string | boolean | undefined {
  const t = toks[j];
  if (!t || continues(toks[j + 1])) return undefined;
  if (t.kind === 'string') return t.text;
  if (t.kind === 'name' && (t.text === 'true' || t.text === 'false')) return t.text === 'true';
  return undefined;
}

function continues(t: Token | undefined): boolean {
  return t !== undefined && t.kind !== 'number' && t.kind !== 'string' && CONTINUES.has(t.text);
}

function isOp(t: Token | undefined, op: string): boolean {
  return t?.kind === 'op' && t.text === op;
}

// ---- loading: files, Includes, merging -------------------------------------------------

interface Loader {
  files: string[];
  /** Real paths of files read, and of the Include chain being read now (for cycles). */
  seen: Set<string>;
  stack: string[];
  hosts: Map<string, ProsodyHost>;
  enabled?: boolean;
  certificates?: string;
  certificate?: string;
  warnings: string[];
}

export async function loadProsodyConfig(path: string): Promise<ProsodyConfig> {
  const main = resolve(path);
  const text = await readMain(main);
  const ld: Loader = { files: [], seen: new Set(), stack: [], hosts: new Map(), warnings: [] };
  await absorb(ld, main, text);
  return finish(ld, main);
}

async function readMain(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new DiscoveryError(
      `cannot read the Prosody config ${file}: ${messageOf(err)}; set prosody.config to the ` +
        `prosody.cfg.lua Prosody runs with (or null to skip it) and let the exporter's user read it`,
      file,
      { cause: err },
    );
  }
}

async function absorb(ld: Loader, file: string, text: string): Promise<void> {
  const real = await realpath(file).catch(() => file);
  ld.files.push(file);
  ld.seen.add(real);
  ld.stack.push(real);
  const parsed = parseProsodyConfig(text, file);
  mergeParsed(ld, parsed);
  for (const pattern of parsed.includes) {
    for (const target of await expandInclude(ld, file, pattern)) await includeFile(ld, file, target);
  }
  ld.stack.pop();
}

async function includeFile(ld: Loader, from: string, target: string): Promise<void> {
  const real = await realpath(target).catch(() => target);
  if (ld.stack.includes(real)) {
    ld.warnings.push(`${from}: Include of ${target} is an include cycle; skipped it`);
    return;
  }
  if (ld.seen.has(real)) return; // already read once; reading it again would add nothing
  let text: string;
  try {
    text = await readFile(target, 'utf8');
  } catch (err) {
    ld.warnings.push(`${from}: cannot read included ${target}: ${messageOf(err)}`);
    return;
  }
  await absorb(ld, target, text);
}

/**
 * Like Prosody's configmanager: relative to the including file's directory; a `*` or `?` is
 * matched against names in the pattern's last path segment only, dot-files skipped.
 */
async function expandInclude(ld: Loader, from: string, pattern: string): Promise<string[]> {
  const target = resolve(dirname(from), pattern);
  if (!/[*?]/.test(basename(pattern))) return [target];
  const dir = dirname(target);
  try {
    const re = globToRegExp(basename(pattern));
    const names = (await readdir(dir)).filter((n) => !n.startsWith('.') && re.test(n));
    return names.sort().map((n) => join(dir, n)); // sorted: readdir order is the file system's
  } catch (err) {
    ld.warnings.push(`${from}: cannot list ${dir} for Include "${pattern}": ${messageOf(err)}`);
    return [];
  }
}

function globToRegExp(glob: string): RegExp {
  const body = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.+()[\]{}|/]/, '\\$&')));
  return new RegExp(`^${body.join('')}$`, 's');
}

function mergeParsed(ld: Loader, parsed: ParsedProsodyConfig): void {
  for (const host of parsed.hosts) {
    const earlier = ld.hosts.get(host.name);
    if (!earlier) ld.hosts.set(host.name, copyHost(host));
    else mergeHost(earlier, host);
  }
  if (parsed.enabled !== undefined) ld.enabled = parsed.enabled;
  if (parsed.certificates !== undefined) ld.certificates = parsed.certificates;
  if (parsed.certificate !== undefined) ld.certificate = parsed.certificate;
}

function copyHost(host: ProsodyHost): ProsodyHost {
  const copy = { ...host };
  if (ownEnabled.has(host)) ownEnabled.add(copy);
  return copy;
}

/**
 * Prosody merges the options of every definition of a name: a later section changes `enabled`
 * only when it sets it. The first definition keeps its place, kind and line.
 */
function mergeHost(earlier: ProsodyHost, later: ProsodyHost): void {
  if (ownEnabled.has(later)) {
    earlier.enabled = later.enabled;
    ownEnabled.add(earlier);
  }
  if (later.certificate !== undefined) earlier.certificate = later.certificate;
}

function finish(ld: Loader, main: string): ProsodyConfig {
  applyGlobalEnabled(ld.hosts.values(), ld.enabled);
  // Prosody resolves these options against its config directory, the main file's.
  const dir = dirname(main);
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(dir, p));
  const hosts = [...ld.hosts.values()].map((h) => (h.certificate === undefined ? h : { ...h, certificate: abs(h.certificate) }));
  return {
    path: main,
    hosts,
    certificatesDir: abs(ld.certificates),
    certificate: abs(ld.certificate),
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
  return cfg.certificatesDir ?? resolve(dirname(cfg.path), 'certs');
}

/**
 * The `certificate` option Prosody 0.12 sees for a name (a host or a parent domain): the
 * section's own, else the global one (configmanager falls back to "*" for unknown names too).
 */
export function certificateOption(cfg: ProsodyConfig, name: string): string | undefined {
  return cfg.hosts.find((h) => h.name === name)?.certificate ?? cfg.certificate;
}
