/**
 * One prosody.cfg.lua file -> the sections Prosody's configmanager would fill from it, read from
 * the syntax tree of a real Lua parser (luaparse) without running any Lua.
 *
 * Mirrors configmanager.lua's parser.load: statements set options in the current section (the
 * global one, "*", until `VirtualHost "x"` / `Component "x"` switch to that host; the table forms
 * `VirtualHost "x" { ... }` and `VirtualHost "*"` go back to global), host names go through
 * nameprep (lower case, NFKC), `Include` patterns are collected for the loader. Values are taken
 * when they are literals (strings, numbers, booleans, tables of those, `..` of strings); anything
 * computed (`ENV_CERTS .. "/x"`, a variable, a function call) is kept as `computed`, so a caller
 * can say "cannot tell" instead of guessing. Statements inside `if`/loops are taken as written.
 * A Lua syntax error is returned as data (Prosody refuses such a file); this never throws.
 * Not done: RunScript, `local` variables, Lua 5.4's `<const>` attributes (luaparse reads 5.3).
 */
import * as luaparse from 'luaparse';
import type { Expression, Statement, TableConstructorExpression } from 'luaparse';

export type LuaValue = string | number | boolean | LuaTable | LuaComputed;
export interface LuaTable {
  kind: 'table';
  /** Keys as Lua has them: `certificate = x` is "certificate", `[5223] = x` and list items are numbers. */
  fields: Map<string | number, LuaValue>;
  /** The 1-based line of each field, by key: where an error tells the operator to change it. */
  lines?: Map<string | number, number>;
  /** The config file the table was read from (set by the loader, prosody-config.ts). */
  file?: string;
}
export interface LuaComputed {
  kind: 'computed';
  line: number;
}

export type Options = Map<string, LuaValue>;

export interface LuaSection {
  /** nameprep'd: lower case, NFKC. */
  name: string;
  kind: 'VirtualHost' | 'Component';
  /** The module of `Component "x" "muc"`; absent for a plain (external) Component. */
  module?: string;
  line: number;
  options: Options;
}

export interface LuaConfigFile {
  global: Options;
  /** Every host header in file order; a name defined twice appears twice (the loader merges). */
  sections: LuaSection[];
  includes: Array<{ pattern: string; line: number }>;
  /** Set when the file is not valid Lua: Prosody refuses to start with it. */
  syntaxError?: { line: number; message: string };
}

const HOST_WORDS: Record<string, LuaSection['kind']> = {
  VirtualHost: 'VirtualHost',
  Host: 'VirtualHost',
  host: 'VirtualHost',
  Component: 'Component',
  component: 'Component',
};
const INCLUDE_WORDS = new Set(['Include', 'include']);

/** configmanager's nameprep (stringprep): NFKC and case folding; close enough for host names. */
export const nameprep = (name: string): string => name.normalize('NFKC').toLowerCase();

/** `text` as read from disk in latin1 (one char per byte), so luaparse's pseudo-latin1 mode keeps UTF-8 bytes intact. */
export function readLuaConfig(bytes: Buffer): LuaConfigFile {
  const out: LuaConfigFile = { global: new Map(), sections: [], includes: [] };
  const text = bytes.toString('latin1');
  let chunk: luaparse.Chunk;
  try {
    chunk = luaparse.parse(text, { luaVersion: '5.3', comments: false, scope: false, locations: false, ranges: true, encodingMode: 'pseudo-latin1' });
  } catch (err) {
    const e = err as { line?: number; message?: string };
    out.syntaxError = { line: e.line ?? 0, message: String(e.message ?? err).replace(/^\[\d+:\d+\] /, '') };
    return out;
  }
  const st: Walk = { out, lines: newlineOffsets(text), current: undefined };
  walk(chunk.body, st);
  return out;
}

interface Walk {
  out: LuaConfigFile;
  lines: number[];
  /** The host options go to; undefined is the global section. */
  current: LuaSection | undefined;
}

function walk(body: Statement[], st: Walk): void {
  for (const s of body) {
    switch (s.type) {
      case 'CallStatement':
        call(s.expression, st);
        break;
      case 'AssignmentStatement':
        s.variables.forEach((v, i) => {
          if (v.type === 'Identifier') set(st.current ? st.current.options : st.out.global, v.name, s.init[i], st);
        });
        break;
      case 'IfStatement':
        for (const clause of s.clauses) walk(clause.body, st);
        break;
      case 'DoStatement':
      case 'WhileStatement':
      case 'RepeatStatement':
      case 'ForNumericStatement':
      case 'ForGenericStatement':
        walk(s.body, st);
        break;
      default: // local, function definitions, return, goto: they set no option
    }
  }
}

/** configmanager's `set`: a later assignment replaces the value; nil removes it (the global one shows through). */
function set(options: Options, key: string, expr: Expression | undefined, st: Walk): void {
  if (expr?.type === 'NilLiteral') options.delete(key);
  else if (expr) options.set(key, valueOf(expr, st));
}

/** `f "a" "b" {..}` -> the name `f` and its argument lists in order; undefined unless the base is a plain name. */
function callChain(expr: Expression): { name: string; args: Expression[][]; start: number } | undefined {
  const args: Expression[][] = [];
  let e: Expression = expr;
  for (;;) {
    if (e.type === 'StringCallExpression') args.unshift([e.argument]);
    else if (e.type === 'TableCallExpression') args.unshift([e.arguments]);
    else if (e.type === 'CallExpression') args.unshift(e.arguments);
    else break;
    e = e.base;
  }
  return e.type === 'Identifier' ? { name: e.name, args, start: startOf(e) } : undefined;
}

function call(expr: Expression, st: Walk): void {
  const chain = callChain(expr);
  if (!chain || chain.args.length === 0) return;
  const first = chain.args[0]![0];
  const arg = first ? valueOf(first, st) : undefined;
  if (INCLUDE_WORDS.has(chain.name)) {
    if (typeof arg === 'string') st.out.includes.push({ pattern: arg, line: lineAt(st, chain.start) });
    return;
  }
  const kind = HOST_WORDS[chain.name];
  if (!kind || typeof arg !== 'string') return;
  const name = nameprep(arg);
  const section: LuaSection | undefined = name === '*' ? undefined : { name, kind, line: lineAt(st, chain.start), options: new Map() };
  if (section) st.out.sections.push(section);
  st.current = section;
  for (const more of chain.args.slice(1)) {
    const value = more[0] ? valueOf(more[0], st) : undefined;
    if (section && kind === 'Component' && typeof value === 'string') section.module = value;
    if (typeof value === 'object' && value.kind === 'table' && more[0]?.type === 'TableConstructorExpression') {
      // The options table: applied to the host, then back to the global section.
      for (const field of more[0].fields) if (field.type === 'TableKeyString' && section) set(section.options, field.key.name, field.value, st);
      st.current = undefined;
    }
  }
}

function valueOf(expr: Expression, st: Walk): LuaValue {
  switch (expr.type) {
    case 'StringLiteral':
      return utf8(expr.value ?? '');
    case 'NumericLiteral':
      return expr.value;
    case 'BooleanLiteral':
      return expr.value;
    case 'TableConstructorExpression':
      return table(expr, st);
    case 'BinaryExpression':
      if (expr.operator === '..') {
        const left = valueOf(expr.left, st);
        const right = valueOf(expr.right, st);
        if (isScalar(left) && isScalar(right)) return `${left}${right}`;
      }
      return computed(expr, st);
    default:
      return computed(expr, st);
  }
}

function table(expr: TableConstructorExpression, st: Walk): LuaTable {
  const fields = new Map<string | number, LuaValue>();
  const lines = new Map<string | number, number>();
  const put = (key: string | number, field: object, value: Expression) => {
    fields.set(key, valueOf(value, st));
    lines.set(key, lineAt(st, startOf(field)));
  };
  let index = 1;
  for (const field of expr.fields) {
    if (field.type === 'TableValue') put(index++, field, field.value);
    else if (field.type === 'TableKeyString') put(field.key.name, field, field.value);
    else {
      const key = valueOf(field.key, st);
      if (typeof key === 'string' || typeof key === 'number') put(key, field, field.value);
    }
  }
  return { kind: 'table', fields, lines };
}

const isScalar = (v: LuaValue): v is string | number => typeof v === 'string' || typeof v === 'number';
/** luaparse sets `range` on every node with `ranges: true`; its types leave it out. */
const startOf = (node: object): number => (node as { range?: [number, number] }).range?.[0] ?? 0;
const computed = (expr: Expression, st: Walk): LuaComputed => ({ kind: 'computed', line: lineAt(st, startOf(expr)) });
/** luaparse's pseudo-latin1 strings hold one byte per char: the file's UTF-8 bytes. */
const utf8 = (bytes: string): string => (/[\x80-\xff]/.test(bytes) ? Buffer.from(bytes, 'latin1').toString('utf8') : bytes);

function newlineOffsets(text: string): number[] {
  const offsets: number[] = [];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) offsets.push(i);
  return offsets;
}

/** 1-based line of a character offset (binary search over the newline offsets). */
function lineAt(st: Walk, offset: number): number {
  let lo = 0;
  let hi = st.lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (st.lines[mid]! < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo + 1;
}
