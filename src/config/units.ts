/**
 * Parsing of the human units used in the config: durations (`30d`, `12h`, `5m`, `90s`, `1h30m`
 * or plain seconds), sizes (`1MiB`, `512KiB` or plain bytes) and thresholds (days, a duration,
 * `N%` of the certificate's lifetime, or `auto`). Pure; returns undefined on bad input so the
 * schema can phrase the error.
 */

const DURATION_UNITS: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

/** Seconds, from a number of seconds or a string such as `1h30m`. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  if (!/^(\d+(\.\d+)?[wdhms])+$/.test(text)) return undefined;
  let total = 0;
  for (const [, num, unit] of text.matchAll(/(\d+(?:\.\d+)?)([wdhms])/g)) total += Number(num) * DURATION_UNITS[unit!]!;
  return total;
}

/** Bytes, from a number or a string such as `1MiB`. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+)\s*([kmg]i?b|b)?$/i.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * SIZE_UNITS[(match[2] ?? '').toLowerCase()]!;
}

/**
 * A threshold is a fixed remaining time, a share of the certificate's lifetime, or `auto`
 * (renewal only: one third of the lifetime left, one half for lifetimes of 10 days or less).
 */
export type Threshold = { kind: 'seconds'; seconds: number } | { kind: 'percent'; percent: number } | { kind: 'auto' };

/** A plain number means days, as the seed's CERT_*_THRESHOLD variables did. */
export function parseThreshold(value: unknown, allowAuto: boolean): Threshold | undefined {
  if (typeof value === 'number') return value >= 0 && Number.isFinite(value) ? { kind: 'seconds', seconds: value * 86400 } : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  if (text === 'auto') return allowAuto ? { kind: 'auto' } : undefined;
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(text);
  if (percent) {
    const n = Number(percent[1]);
    return n > 0 && n < 100 ? { kind: 'percent', percent: n } : undefined;
  }
  if (/^\d+(\.\d+)?$/.test(text)) return { kind: 'seconds', seconds: Number(text) * 86400 };
  const seconds = parseDuration(text);
  return seconds === undefined ? undefined : { kind: 'seconds', seconds };
}

/** `host:port`, `:port` or `[v6]:port`; host '' means every interface. */
export function parseListen(value: unknown): { host: string; port: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: match[1] ?? match[2] ?? '', port };
}

/** Text of a threshold, for logs, /status and `config`. */
export function formatThreshold(t: Threshold): string {
  if (t.kind === 'auto') return 'auto';
  if (t.kind === 'percent') return `${t.percent}%`;
  return t.seconds % 86400 === 0 ? `${t.seconds / 86400}d` : `${t.seconds}s`;
}
