/**
 * A small Lua tokenizer for prosody.cfg.lua: names, strings, numbers and operators, each with
 * its line. It drops `--` line comments and `--[[ ]]` / `--[==[ ]==]` block comments, and reads
 * quoted and long-bracket strings whole, so `--` or `VirtualHost` inside a string is just text.
 * It does not parse Lua: it never evaluates, never throws, and turns bad input (an unterminated
 * string or comment) into tokens up to the end of the line or the file.
 */

export type TokenKind = 'name' | 'string' | 'number' | 'op';

export interface Token {
  kind: TokenKind;
  /** The name, operator or number as written; for a string, its value without quotes. */
  text: string;
  line: number;
}

interface Lexer {
  src: string;
  pos: number;
  line: number;
  out: Token[];
}

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
// Loose on purpose: a number only has to be skipped, never understood.
const NUMBER = /[0-9][0-9A-Za-z_.]*/y;
// Longest operators first, so `==` is never read as an assignment and `..` never as a field access.
const OPERATOR = /\.\.\.|\.\.|==|~=|<=|>=|::|\/\/|<<|>>|[^\sA-Za-z0-9_]/y;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v' };

export function tokenizeLua(src: string): Token[] {
  const lx: Lexer = { src, pos: 0, line: 1, out: [] };
  while (lx.pos < src.length) step(lx);
  return lx.out;
}

function step(lx: Lexer): void {
  const c = lx.src[lx.pos]!;
  if (c === '\n') {
    lx.line++;
    lx.pos++;
  } else if (/\s/.test(c)) lx.pos++;
  else if (lx.src.startsWith('--', lx.pos)) skipComment(lx);
  else if (c === '"' || c === "'") readQuoted(lx, c);
  else if (longBracketLevel(lx.src, lx.pos) >= 0) readLong(lx, true);
  else if (/[A-Za-z_]/.test(c)) readPattern(lx, NAME, 'name');
  else if (/[0-9]/.test(c)) readPattern(lx, NUMBER, 'number');
  else readPattern(lx, OPERATOR, 'op');
}

function readPattern(lx: Lexer, re: RegExp, kind: TokenKind): void {
  re.lastIndex = lx.pos;
  const text = re.exec(lx.src)![0];
  lx.out.push({ kind, text, line: lx.line });
  lx.pos += text.length;
}

/** `[[` is level 0, `[==[` level 2; -1 when `pos` does not open a long bracket. */
function longBracketLevel(src: string, pos: number): number {
  if (src[pos] !== '[') return -1;
  let end = pos + 1;
  while (src[end] === '=') end++;
  return src[end] === '[' ? end - pos - 1 : -1;
}

function skipComment(lx: Lexer): void {
  lx.pos += 2;
  if (longBracketLevel(lx.src, lx.pos) >= 0) return readLong(lx, false);
  const eol = lx.src.indexOf('\n', lx.pos);
  lx.pos = eol < 0 ? lx.src.length : eol; // the newline itself is counted by step()
}

/** A `[==[ ... ]==]` string or block comment; an unclosed one runs to the end of the file. */
function readLong(lx: Lexer, emit: boolean): void {
  const level = longBracketLevel(lx.src, lx.pos);
  const open = lx.pos + level + 2;
  const closeAt = lx.src.indexOf(`]${'='.repeat(level)}]`, open);
  const end = closeAt < 0 ? lx.src.length : closeAt;
  // Lua drops a newline that directly follows the opening bracket.
  const text = lx.src.slice(open, end).replace(/^\r?\n/, '');
  if (emit) lx.out.push({ kind: 'string', text, line: lx.line });
  lx.line += countNewlines(lx.src.slice(lx.pos, end));
  lx.pos = closeAt < 0 ? end : end + level + 2;
}

/** A '...' or "..." string; an unterminated one ends at the end of its line. */
function readQuoted(lx: Lexer, quote: string): void {
  const line = lx.line;
  let text = '';
  lx.pos++;
  while (lx.pos < lx.src.length) {
    const c = lx.src[lx.pos]!;
    if (c === quote) {
      lx.pos++;
      break;
    }
    if (c === '\n') break;
    if (c === '\\') {
      const next = lx.src[lx.pos + 1] ?? '';
      if (next === '\n') lx.line++;
      text += ESCAPES[next] ?? next;
      lx.pos += 2;
    } else {
      text += c;
      lx.pos++;
    }
  }
  lx.out.push({ kind: 'string', text, line });
}

function countNewlines(s: string): number {
  let n = 0;
  for (const c of s) if (c === '\n') n++;
  return n;
}
