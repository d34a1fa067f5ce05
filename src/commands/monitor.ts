/**
 * `xmpp-cert monitor`: one scan, a table (domain, file, not after, days left, status) or JSON,
 * and the Nagios exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). Formatting only.
 */
import { exitCode, statusJson, type Report } from '../evaluate';

export function monitorExitCode(report: Report): 0 | 1 | 2 | 3 {
  const unattached = report.files.filter((f) => !f.servesConfiguredDomain).map((f) => f.status);
  // A source that could not be read (prosody.cfg.lua, the certificate directory) is UNKNOWN at best.
  const down = report.sources.filter((s) => !s.up).map(() => 'error' as const);
  const statuses = [...report.domains.map((d) => d.status), ...unattached, ...report.served.map((s) => s.status), ...down];
  // Nothing watched at all is UNKNOWN, not OK: the configuration found no domain and no file.
  return statuses.length === 0 ? 3 : exitCode(statuses);
}

export function monitorTable(report: Report): string {
  const now = report.generatedAt;
  const rows: string[][] = [['DOMAIN', 'FILE', 'NOT AFTER', 'DAYS LEFT', 'STATUS', 'DETAIL']];
  for (const d of report.domains) {
    rows.push([
      d.domain,
      d.file ?? '-',
      d.leaf ? new Date(d.leaf.notAfter * 1000).toISOString() : '-',
      d.leaf ? String(Math.floor((d.leaf.notAfter - now) / 86400)) : '-',
      d.status.toUpperCase(),
      d.detail,
    ]);
  }
  for (const f of report.files.filter((file) => !file.servesConfiguredDomain)) {
    const leaf = f.result.ok ? f.result.certificates[0] : undefined;
    const detail = f.result.ok ? '' : `${f.result.error.reason}: ${f.result.error.message}`;
    rows.push([
      f.domains[0] || '-',
      f.path,
      leaf ? new Date(leaf.notAfter * 1000).toISOString() : '-',
      leaf ? String(Math.floor((leaf.notAfter - now) / 86400)) : '-',
      f.status.toUpperCase(),
      detail,
    ]);
  }
  for (const s of report.served) {
    const leaf = s.chain[0];
    rows.push([
      s.domain,
      `${s.source} ${s.target}`,
      leaf ? new Date(leaf.notAfter * 1000).toISOString() : '-',
      leaf ? String(Math.floor((leaf.notAfter - now) / 86400)) : '-',
      s.status.toUpperCase(),
      s.detail,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
  const down = report.sources.filter((s) => !s.up).map((s) => `source ${s.name} down: ${s.error ?? ''}`);
  return [...lines, '', `overall: ${report.overall.toUpperCase()}`, ...down].join('\n') + '\n';
}

export function monitorJson(report: Report): string {
  return JSON.stringify(statusJson(report), null, 2) + '\n';
}
