/**
 * Which entry of a per-name challenge list (`challenge: [{match: PATTERN, ...}, ...]`) a name
 * gets: the first whose pattern matches. A pattern is a name (`example.org`, exactly that name),
 * `*.example.org` (every name below example.org, at any depth, and the wildcard name
 * `*.example.org` itself) or `*` (every name). Case does not matter. Pure; used by the schema's
 * checks, the renewal's challenge router and `config check`.
 */

export function matchesPattern(pattern: string, name: string): boolean {
  const p = pattern.trim().toLowerCase().replace(/\.$/, '');
  const n = name.trim().toLowerCase().replace(/\.$/, '');
  if (p === '*') return true;
  if (p.startsWith('*.')) return n.endsWith(p.slice(1));
  return p === n;
}

/** A rule list's patterns, normalised: `match` may be one pattern or a list. */
export function patternsOf(match: string | readonly string[]): string[] {
  return typeof match === 'string' ? [match] : [...match];
}

/** Index of the first rule matching `name`, or -1. */
export function ruleFor<T extends { match: string | readonly string[] }>(rules: readonly T[], name: string): number {
  return rules.findIndex((rule) => patternsOf(rule.match).some((p) => matchesPattern(p, name)));
}

export const isWildcard = (name: string): boolean => name.startsWith('*.');
