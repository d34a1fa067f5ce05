/**
 * Judges an Inventory at a moment: per domain its status, the file serving it, whether that file's
 * leaf covers the domain, and the thresholds in seconds; per file its status and the domains it
 * serves; read errors by reason. A file that serves no watched domain is judged by the default
 * thresholds and counts only when expired or not yet valid, at `thresholds.unusedFiles`.
 * Pure: a function of (inventory, thresholds config, now).
 */
import { READ_ERROR_REASONS, nameCoverage, type Certificate, type FileResult, type ReadErrorReason } from '../cert';
import type { Config } from '../config';
import type { Inventory } from '../model/inventory';
import type { SrvLookup, TimedProbe } from '../model/probe';
import type { DomainReport, FileReport, Report, UnusedFileSeverity } from './report-types';
import { judgeServed } from './served';
import { certificateStatus, worst, type Status } from './status';
import { defaultThresholds, resolveThresholds, thresholdsFor } from './thresholds';

export type { DomainReport, FileReport, Report, ServedReport } from './report-types';

const lifetime = (cert: Certificate) => cert.notAfter - cert.notBefore;
const days = (seconds: number) => (seconds / 86400).toFixed(1);

export function evaluate(
  inventory: Inventory,
  thresholds: Config['thresholds'],
  now: number,
  probes: readonly TimedProbe[] = [],
  srv: readonly SrvLookup[] = [],
): Report {
  const domains = inventory.domains.map((entry) => evaluateDomain(entry, inventory.files, thresholds, now));
  const byDomain = new Map(domains.map((d) => [d.domain, d]));
  const served = probes.map((p) => judgeServed(p, byDomain.get(p.result.endpoint.domain), thresholds, now));
  const files = evaluateFiles(inventory.files, domains, thresholds, now);
  const readErrors = Object.fromEntries(READ_ERROR_REASONS.map((r) => [r, 0])) as Record<ReadErrorReason, number>;
  for (const { result } of files) if (!result.ok) readErrors[result.error.reason]++;
  const statuses = [...domains.map((d) => d.status), ...files.filter((f) => !f.servesConfiguredDomain).map((f) => f.status), ...served.map((s) => s.status)];
  return {
    generatedAt: now,
    scannedAt: inventory.scannedAt,
    ...(inventory.certsDir ? { certsDir: inventory.certsDir } : {}),
    overall: worst(statuses),
    domains,
    files,
    readErrors,
    sources: inventory.sources,
    served,
    srv: [...srv],
  };
}

function evaluateDomain(entry: Inventory['domains'][number], files: Map<string, FileResult>, config: Config['thresholds'], now: number): DomainReport {
  const base = { domain: entry.name, origin: entry.origin };
  const served = entry.served;
  if (!served) return { ...base, status: 'missing', detail: `no certificate found for ${entry.name} (Prosody would find none either)` };
  const where = { file: served.cert, keyFile: served.key, keyFound: served.keyFound };
  const result = files.get(served.cert);
  if (!result) return { ...base, ...where, status: 'missing', detail: `${served.cert} was not read` };
  if (!result.ok) return { ...base, ...where, status: 'error', error: result.error, detail: `${served.cert}: ${result.error.message}` };
  const leaf = result.certificates[0]!;
  const thresholds = resolveThresholds(thresholdsFor(entry.name, config), lifetime(leaf));
  const status = certificateStatus(leaf, thresholds, now);
  const coveredBy = nameCoverage(leaf, entry.name);
  const left = leaf.notAfter - now;
  const problems = [
    left <= 0 ? `expired ${days(-left)} days ago` : `${days(left)} days left`,
    ...(coveredBy ? [] : [`does not cover ${entry.name}`]),
    ...(served.keyFound ? [] : [`key ${served.key} missing`]),
  ];
  return { ...base, ...where, status, leaf, thresholds, ...(coveredBy ? { coveredBy } : {}), detail: problems.join('; ') };
}

function evaluateFiles(files: Map<string, FileResult>, domains: DomainReport[], config: Config['thresholds'], now: number): FileReport[] {
  const servedBy = new Map<string, string[]>();
  for (const d of domains) if (d.file) servedBy.set(d.file, [...(servedBy.get(d.file) ?? []), d.domain]);
  return [...files].map(([path, result]): FileReport => {
    const served = servedBy.get(path) ?? [];
    const used = served.length > 0;
    const base = { path, domains: used ? served : [ownName(result)], servesConfiguredDomain: used, ...(used ? {} : { unusedSeverity: config.unusedFiles }) };
    if (!result.ok) return { ...base, status: 'error', result };
    const leaf = result.certificates[0]!;
    // A domain's thresholds (overrides) apply only to the file Prosody uses for it; a file that
    // serves none is judged by the defaults, and counts only when clients could not use it at all.
    const thresholds = resolveThresholds(used ? thresholdsFor(served[0]!, config) : defaultThresholds(config), lifetime(leaf));
    const status = certificateStatus(leaf, thresholds, now);
    return { ...base, status: used ? status : unusedStatus(leaf, now, config.unusedFiles), result, thresholds };
  });
}

/** An unused file is `warning` (or, by config, nothing) when expired or not yet valid, else ok. */
function unusedStatus(leaf: Certificate, now: number, severity: UnusedFileSeverity): Status {
  const broken = now >= leaf.notAfter || now < leaf.notBefore;
  return broken && severity === 'warning' ? 'warning' : 'ok';
}

/** A file that serves no watched domain is labelled with its leaf's first name (empty without one). */
function ownName(result: FileResult): string {
  if (!result.ok) return '';
  const leaf = result.certificates[0]!;
  return leaf.dnsNames[0] ?? leaf.commonName ?? '';
}
