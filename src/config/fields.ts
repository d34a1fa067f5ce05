/**
 * zod field builders whose errors read "expected X, got Y", so every rejected value tells the user
 * what to write instead. Only the shapes the schema uses; no I/O.
 */
import { domainToASCII } from 'node:url';
import { z } from 'zod';
import { parseDuration, parseListen, parseSize, parseThreshold, type Threshold } from './units';

/** The offending value as the user wrote it. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return `a ${typeof value}`;
}

/** Any value passed through `parse`; undefined from it becomes "expected <what>, got <value>". */
function parsed<T>(what: string, parse: (v: unknown) => T | undefined) {
  return z.unknown().transform((value, ctx): T => {
    const result = parse(value);
    if (result === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected ${what}, got ${show(value)}` });
      return z.NEVER;
    }
    return result;
  });
}

export const text = () => z.string({ error: (iss) => `expected a string, got ${show(iss.input)}` }).min(1, { error: 'expected a non-empty string' });

export const flag = () =>
  parsed('true or false', (v) => {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string' && /^(true|yes|1|on)$/i.test(v.trim())) return true;
    if (typeof v === 'string' && /^(false|no|0|off)$/i.test(v.trim())) return false;
    return undefined;
  });

export const wholeNumber = (min: number) =>
  parsed(`a whole number >= ${min}`, (v) => {
    const n = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
    return typeof n === 'number' && Number.isInteger(n) && n >= min ? n : undefined;
  });

/** Seconds. `minSeconds` guards against loops that would spin (an interval of 0). */
export const duration = (minSeconds = 0) =>
  parsed(`a duration such as 30d, 12h, 5m or a number of seconds${minSeconds ? ` (at least ${minSeconds}s)` : ''}`, (v) => {
    const seconds = parseDuration(v);
    return seconds !== undefined && seconds >= minSeconds ? seconds : undefined;
  });

export const size = () => parsed('a size such as 1MiB, 512KiB or a number of bytes', parseSize);

export const threshold = (allowAuto: boolean) =>
  parsed<Threshold>(`days (e.g. 14), a duration (e.g. 36h), a share of the lifetime (e.g. 20%)${allowAuto ? ' or auto' : ''}`, (v) =>
    parseThreshold(v, allowAuto),
  );

export const listen = () => parsed('host:port (e.g. 127.0.0.1:10522 or :10522)', parseListen);

export const email = () => parsed('an e-mail address', (v) => (typeof v === 'string' && /^[^\s@]+@[^\s@]+$/.test(v.trim()) ? v.trim() : undefined));

export const url = () =>
  parsed('an http:// or https:// URL', (v) => {
    if (typeof v !== 'string') return undefined;
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:' ? v : undefined;
    } catch {
      return undefined;
    }
  });

const isAscii = (s: string) => [...s].every((c) => c.charCodeAt(0) < 0x80);

/** A DNS name as XMPP uses it: lower-cased, no trailing dot, no scheme or port; a U-label (bücher.example) becomes its A-label. */
export const domainName = () =>
  parsed('a domain name such as example.org', (v) => {
    if (typeof v !== 'string') return undefined;
    const trimmed = v.trim().toLowerCase().replace(/\.$/, '');
    const name = isAscii(trimmed) ? trimmed : domainToASCII(trimmed);
    return /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*$/.test(name) ? name : undefined;
  });

/** A certificate name: a domain name, or a wildcard `*.example.org` (dns-01 only). */
export const certificateName = () =>
  parsed('a domain name such as example.org, or a wildcard such as *.example.org', (v) => {
    if (typeof v !== 'string') return undefined;
    const wildcard = /^\s*\*\./.test(v);
    const base = domainName().safeParse(wildcard ? v.trim().slice(2) : v);
    return base.success ? `${wildcard ? '*.' : ''}${base.data}` : undefined;
  });

export const list = <T extends z.ZodType>(item: T) => z.array(item, { error: (iss) => `expected a list, got ${show(iss.input)}` });

export const section = <T extends z.core.$ZodLooseShape>(shape: T) => z.strictObject(shape, { error: (iss) => `expected a mapping, got ${show(iss.input)}` });
