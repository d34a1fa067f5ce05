/**
 * A Report as a Monitoring Plugins check (the Nagios/Icinga plugin API, monitoring-plugins'
 * development guidelines), for `xmpp-cert monitor`: the first line is
 * `XMPP-CERT <STATE> - <summary> | <perfdata>`, the table follows as long output, and the exit
 * code is the state (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). Formatting only: pure.
 *
 * States: ok -> OK; warning -> WARNING; critical, expired, no certificate at all, a certificate
 * that does not cover its domain, a domain's file Prosody would refuse to load, a served chain
 * that is untrusted (check_ssl_cert's rule) -> CRITICAL; served != on disk -> WARNING (reload
 * Prosody); a file the exporter cannot read, a probe that failed, a source that is down, nothing
 * to check -> UNKNOWN ("could not check").
 * The worst wins in monitoring-plugins' max_state_alt order, CRITICAL > WARNING > UNKNOWN > OK,
 * so a file we cannot read never hides a domain's WARNING or CRITICAL. (Their plain max_state
 * ranks OK above UNKNOWN, which would report OK for a check that could not be made.)
 */
import type { Config } from '../config';
import { resolveThresholds, statusJson, thresholdsFor, type Report, type Status } from '../evaluate';

export const STATE_NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;
export type State = 0 | 1 | 2 | 3;

/** One line of the check: a domain's file, a served endpoint, a stray file or a source. */
export interface Check {
  domain: string;
  source: string;
  target: string;
  state: State;
  detail: string;
  notAfter?: number;
  /** Perfdata: seconds left and the thresholds, when a certificate was read. */
  perf?: { left: number; warning: number; critical: number; lifetime: number };
}

/** CRITICAL > WARNING > UNKNOWN > OK: monitoring-plugins' max_state_alt. */
const RANK: Record<State, number> = { 0: 0, 3: 1, 1: 2, 2: 3 };
export const maxStateAlt = (states: Iterable<State>): State => {
  let worst: State = 0;
  for (const s of states) if (RANK[s] > RANK[worst]) worst = s;
  return worst;
};

const STATE_OF_STATUS: Record<Status, State> = { ok: 0, warning: 1, critical: 2, expired: 2, missing: 2, error: 3 };

/**
 * A domain in status `error` is UNKNOWN only when the exporter could not check (it may not read
 * the file or the directory, the file is over its size limit, the option is computed at run time);
 * a file Prosody would refuse to load (DER, truncated, a small key, SHA-1, a missing, unreadable
 * or mismatched key) means no TLS with it: CRITICAL.
 */
const COULD_NOT_CHECK: ReadonlySet<string> = new Set(['unreadable', 'too_large', 'lookup_unknown', 'certs_dir_unreadable']);
const domainState = (d: Report['domains'][number]): State =>
  d.status === 'error' ? (d.error && !COULD_NOT_CHECK.has(d.error.reason) ? 2 : 3) : STATE_OF_STATUS[d.status];

const days = (seconds: number) => (seconds / 86400).toFixed(1);

/** `thresholds`: the config's, to judge a served leaf by its own lifetime (a share of it, or auto). */
export function checksOf(report: Report, thresholds: Config['thresholds']): Check[] {
  const now = report.generatedAt;
  const checks: Check[] = [];
  for (const d of report.domains) {
    const covers = !d.leaf || d.coveredBy !== undefined;
    const state = maxStateAlt([domainState(d), covers ? 0 : 2]);
    const perf = d.leaf && d.thresholds ? perfOf(d.leaf, d.thresholds, now) : undefined;
    checks.push({
      domain: d.domain,
      source: 'file',
      target: d.file ?? '-',
      state,
      detail: d.detail,
      ...(d.leaf ? { notAfter: d.leaf.notAfter } : {}),
      ...(perf ? { perf } : {}),
    });
  }
  for (const f of report.files.filter((file) => !file.servesConfiguredDomain)) {
    const leaf = f.result.ok ? f.result.certificates[0] : undefined;
    const detail = f.result.ok ? `serves no watched domain; ${days(leaf!.notAfter - now)} days left` : `${f.result.error.reason}: ${f.result.error.message}`;
    checks.push({
      domain: f.domains[0] || '-',
      source: 'file',
      target: f.path,
      state: STATE_OF_STATUS[f.status],
      detail,
      ...(leaf ? { notAfter: leaf.notAfter } : {}),
    });
  }
  for (const s of report.served) {
    const leaf = s.chain[0];
    const state = !s.ok ? 3 : maxStateAlt([STATE_OF_STATUS[s.status], s.trusted ? 0 : 2, s.matchedBy ? 0 : 2, s.matchesDisk === false ? 1 : 0]);
    const perf = leaf ? perfOf(leaf, resolveThresholds(thresholdsFor(s.domain, thresholds), leaf.notAfter - leaf.notBefore), now) : undefined;
    checks.push({
      domain: s.domain,
      source: s.source,
      // Each address of a host is its own check (a listener may be stale on one address family).
      target: s.address && !s.target.startsWith(`${s.address}:`) ? `${s.target} (${s.address})` : s.target,
      state,
      detail: s.detail,
      ...(leaf ? { notAfter: leaf.notAfter } : {}),
      ...(perf ? { perf } : {}),
    });
  }
  for (const source of report.sources.filter((s) => !s.up)) {
    checks.push({ domain: '-', source: source.name, target: '-', state: 3, detail: `source down: ${source.error ?? 'unknown error'}` });
  }
  return checks;
}

function perfOf(cert: { notBefore: number; notAfter: number }, thresholds: { warning: number; critical: number }, now: number): Check['perf'] {
  return { left: cert.notAfter - now, warning: thresholds.warning, critical: thresholds.critical, lifetime: cert.notAfter - cert.notBefore };
}

/** The overall state; nothing to check at all is UNKNOWN, never OK. */
export function overallState(checks: readonly Check[]): State {
  return checks.length === 0 ? 3 : maxStateAlt(checks.map((c) => c.state));
}

/** Plugin output may not hold `|` outside the perfdata, nor a line break inside a line. */
const oneLine = (text: string) => text.replace(/\|/g, '/').replace(/\s*\n\s*/g, ' ');

/**
 * `'label'=value[UOM];[warn];[crit];[min];[max]`: seconds left (0 once expired) with `s`; warn
 * and crit in the guidelines' range format, `N:` = "alert below N"; min 0; max the lifetime.
 * Labels are `domain_source`, plus `_host:port` when a source has several endpoints, quoted.
 */
export function perfdata(checks: readonly Check[]): string {
  const withPerf = checks.filter((c) => c.perf);
  const endpoints = new Map<string, number>();
  for (const c of withPerf) endpoints.set(`${c.domain}_${c.source}`, (endpoints.get(`${c.domain}_${c.source}`) ?? 0) + 1);
  return withPerf
    .map((c) => {
      const base = `${c.domain}_${c.source}`;
      const label = (endpoints.get(base) ?? 0) > 1 && c.source !== 'file' ? `${base}_${c.target}` : base;
      const p = c.perf!;
      const n = (x: number) => String(Math.max(0, Math.round(x)));
      return `'${label.replace(/'/g, "''")}'=${n(p.left)}s;${n(p.warning)}:;${n(p.critical)}:;0;${n(p.lifetime)}`;
    })
    .join(' ');
}

function summary(checks: readonly Check[], state: State, now: number): string {
  if (checks.length === 0) return 'nothing to check: no domain and no certificate file found (check prosody.config, domains and files)';
  if (state === 0) {
    const next = checks.filter((c) => c.notAfter !== undefined).sort((a, b) => a.notAfter! - b.notAfter!)[0];
    const soonest = next ? `; next expiry ${next.domain} (${next.source}) in ${days(next.notAfter! - now)} days` : '';
    return `${checks.length} check${checks.length === 1 ? '' : 's'} passed${soonest}`;
  }
  const problems = checks.filter((c) => c.state !== 0).sort((a, b) => RANK[b.state] - RANK[a.state]);
  const counts = ([2, 1, 3] as const)
    .map((s) => [s, problems.filter((c) => c.state === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${STATE_NAMES[s].toLowerCase()}`);
  const name = (c: Check) => (c.domain !== '-' ? `${c.domain} ${c.source}` : c.target !== '-' ? c.target : c.source);
  const shown = problems.slice(0, 3).map((c) => `${name(c)}: ${c.detail}`);
  const more = problems.length > shown.length ? ` (+${problems.length - shown.length} more)` : '';
  return `${counts.join(', ')} of ${checks.length}: ${shown.join('; ')}${more}`;
}

function table(checks: readonly Check[], now: number): string[] {
  const rows = [['STATE', 'DOMAIN', 'SOURCE', 'FILE OR ENDPOINT', 'NOT AFTER', 'DAYS LEFT', 'DETAIL']];
  for (const c of checks) {
    const after = c.notAfter === undefined ? ['-', '-'] : [new Date(c.notAfter * 1000).toISOString(), String(Math.floor((c.notAfter - now) / 86400))];
    rows.push([STATE_NAMES[c.state], c.domain, c.source, c.target, ...after, c.detail]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => oneLine(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).trimEnd());
}

/** The whole plugin output: status line with perfdata, then the table as long output. */
export function pluginOutput(report: Report, thresholds: Config['thresholds']): { text: string; state: State } {
  const checks = checksOf(report, thresholds);
  const state = overallState(checks);
  const perf = perfdata(checks);
  const first = `XMPP-CERT ${STATE_NAMES[state]} - ${oneLine(summary(checks, state, report.generatedAt))}${perf ? ` | ${perf}` : ''}`;
  return { text: [first, ...(checks.length ? table(checks, report.generatedAt) : [])].join('\n') + '\n', state };
}

/** A check that could not run (bad flags or config, a timeout): UNKNOWN, the reason on the first line. */
export function unknownOutput(message: string): string {
  const [first, ...rest] = message.trim().split('\n');
  return [`XMPP-CERT UNKNOWN - ${oneLine(first ?? '')}`, ...rest].join('\n') + '\n';
}

/** Only `domain`: its file, its endpoints; sources stay (a source down may be why it is missing). */
export function onlyDomain(report: Report, domain: string): Report {
  return {
    ...report,
    domains: report.domains.filter((d) => d.domain === domain),
    files: report.files.filter((f) => f.servesConfiguredDomain && f.domains.includes(domain)),
    served: report.served.filter((s) => s.domain === domain),
  };
}

export function monitorJson(report: Report): string {
  return JSON.stringify(statusJson(report), null, 2) + '\n';
}
