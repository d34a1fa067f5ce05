/**
 * logfmt for people reading the logs (`--log.format=logfmt`): one line per event, `time`, `level`
 * and `msg` first, then the event's own fields in their order; nested fields flattened with dots
 * (`err.message=...`). Values are quoted when they hold a space, `=`, `"` or a control character;
 * `\`, `"`, newlines and other control characters are escaped, so a multi-line message or stack
 * stays on its line. It reads pino's JSON lines: pino still does levels and redaction.
 * Not the npm `logfmt` package (it leaves a newline in a value unescaped, which breaks the one
 * line per event that log shippers rely on) nor pino-logfmt (an ESM-only transport in a worker
 * thread, whose last lines are lost when a one-shot command exits).
 */

type Flat = Array<[string, unknown]>;

function flatten(prefix: string, value: unknown, into: Flat): Flat {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) flatten(prefix ? `${prefix}.${key}` : key, child, into);
  } else if (value !== undefined) {
    into.push([prefix, value]);
  }
  return into;
}

const ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function logfmtValue(value: unknown): string {
  const text = typeof value === 'string' ? value : Array.isArray(value) ? JSON.stringify(value) : String(value);
  // eslint-disable-next-line no-control-regex
  if (text !== '' && !/[\s="\\\u0000-\u001f\u007f]/.test(text)) return text;
  // eslint-disable-next-line no-control-regex
  const escaped = text.replace(/[\\"\u0000-\u001f\u007f]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `"${escaped}"`;
}

/** One pino record (parsed JSON) as a logfmt line, newline included. */
export function logfmtLine(record: Record<string, unknown>): string {
  const { time, level, msg, ...fields } = record;
  const pairs = flatten('', { time, level, msg }, []).concat(flatten('', fields, []));
  return `${pairs.map(([key, value]) => `${key}=${logfmtValue(value)}`).join(' ')}\n`;
}
