/**
 * A strict reader of Monitoring Plugins output, as the development guidelines define it: the first
 * line `TEXT | PERFDATA`, then long output; perfdata `'label'=value[UOM];[warn];[crit];[min];[max]`
 * separated by single spaces, labels quoted when they need it (`''` for a quote), value, min and
 * max in [-0-9.], warn and crit in the range format (`[@][start:][end]`, `~` for minus infinity).
 * Anything else throws, so a test that reads output through it checks the format as a whole.
 */
export const STATES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

export interface Range {
  inside: boolean;
  start: number;
  end: number;
}

export interface Perf {
  label: string;
  value: number;
  uom: string;
  warn?: Range;
  crit?: Range;
  min?: number;
  max?: number;
}

export interface PluginOutput {
  state: (typeof STATES)[number];
  summary: string;
  perf: Perf[];
  long: string[];
}

const NUMBER = /^-?\d+(?:\.\d+)?$/;
const UOM = /^(?:s|ms|us|%|B|KB|MB|GB|TB|c)?$/;

export function parseRange(text: string): Range {
  const m = /^(@)?(?:(~|-?\d+(?:\.\d+)?):)?(-?\d+(?:\.\d+)?)?$/.exec(text);
  if (!m || text === '' || text === '@') throw new Error(`not a range: ${JSON.stringify(text)}`);
  const start = m[2] === undefined ? 0 : m[2] === '~' ? -Infinity : Number(m[2]);
  const end = m[3] === undefined ? Infinity : Number(m[3]);
  if (start > end) throw new Error(`range start above end: ${text}`);
  return { inside: m[1] === '@', start, end };
}

/** The guidelines' rule: alert when the value is outside the range (inside with `@`). */
export const alerts = (range: Range, value: number) => (value < range.start || value > range.end) !== range.inside;

function parsePerfItem(item: string): Perf {
  const m = /^('(?:[^']|'')+'|[^'=\s]+)=([^;]*)((?:;[^;]*){0,4})$/.exec(item);
  if (!m) throw new Error(`not a perfdata item: ${JSON.stringify(item)}`);
  const label = m[1]!.startsWith("'") ? m[1]!.slice(1, -1).replace(/''/g, "'") : m[1]!;
  const v = /^(-?\d+(?:\.\d+)?)(.*)$/.exec(m[2]!);
  if (!v || !UOM.test(v[2]!)) throw new Error(`bad value or UOM in ${JSON.stringify(item)}`);
  const [warn, crit, min, max] = m[3]!.split(';').slice(1);
  for (const n of [min, max]) if (n && !NUMBER.test(n)) throw new Error(`bad min/max in ${JSON.stringify(item)}`);
  return {
    label,
    value: Number(v[1]),
    uom: v[2]!,
    ...(warn ? { warn: parseRange(warn) } : {}),
    ...(crit ? { crit: parseRange(crit) } : {}),
    ...(min ? { min: Number(min) } : {}),
    ...(max ? { max: Number(max) } : {}),
  };
}

export function parsePluginOutput(text: string): PluginOutput {
  const [first, ...long] = text.replace(/\n$/, '').split('\n');
  const m = /^XMPP-CERT (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| (.+))?$/.exec(first ?? '');
  if (!m) throw new Error(`not a plugin status line: ${JSON.stringify(first)}`);
  const perf = m[3] ? m[3].split(' ').map(parsePerfItem) : [];
  const labels = perf.map((p) => p.label);
  if (new Set(labels).size !== labels.length) throw new Error(`duplicate perfdata labels: ${labels.join(' ')}`);
  for (const line of long) if (line.includes('|')) throw new Error(`a | in long output would start perfdata: ${line}`);
  return { state: m[1] as PluginOutput['state'], summary: m[2]!, perf, long };
}
