/**
 * Judges an Inventory at a moment: per domain its status over every file Prosody may serve it
 * with (the main file, each TLS service's, and every alternative of an ambiguous lookup: the worst
 * counts), whether the main leaf covers the domain, whether Prosody could load each pair, and the
 * thresholds in seconds; per file its status and the domains it serves; read errors by reason. A
 * file that serves no watched domain is judged by the default thresholds and counts only when
 * expired or not yet valid, at `thresholds.unusedFiles`.
 * Pure: a function of (inventory, thresholds config, now).
 * The reports kept per domain, service and file are object literals that never start with a
 * spread: V8 11 (Node 20) gives every object made by `{ ...base, more }` a hidden class of its
 * own (~20 MB of heap at 10,000 domains; docs/benchmarks.md), while one that starts with a
 * property, or is made by Object.assign onto `{}`, shares one per shape.
 */
import { READ_ERROR_REASONS, nameCoverage, type Certificate, type FileResult, type ReadErrorReason } from '../cert';
import type { Config } from '../config';
import { LOAD_ERROR_REASONS, keyFactsId, type DomainEntry, type HostCert, type Inventory, type PortEntry } from '../model/inventory';
import type { SrvLookup, TimedProbe } from '../model/probe';
import { loadVerdict } from './loadability';
import type { DomainError, DomainReport, FileReport, PortReport, Report, ServiceReport, UnusedFileSeverity } from './report-types';
import { judgeServed } from './served';
import { certificateStatus, worst, type Status } from './status';
import { defaultThresholds, resolveThresholds, thresholdsFor, type ThresholdSeconds } from './thresholds';

export type { DomainReport, FileReport, Report, ServedReport, ServiceReport } from './report-types';

const lifetime = (cert: Certificate) => cert.notAfter - cert.notBefore;
const days = (seconds: number) => (seconds / 86400).toFixed(1);

export function evaluate(
  inventory: Inventory,
  thresholds: Config['thresholds'],
  now: number,
  probes: readonly TimedProbe[] = [],
  srv: readonly SrvLookup[] = [],
): Report {
  const steps = evaluateSteps(inventory, thresholds, now, probes, srv);
  for (let step = steps.next(); ; step = steps.next()) if (step.done) return step.value;
}

/**
 * The same judgement in slices: `pause` is awaited every few hundred domains or files, so a caller
 * on an event loop (the exporter) keeps answering /healthz while 100,000 domains are judged.
 */
export async function evaluateInSlices(
  inventory: Inventory,
  thresholds: Config['thresholds'],
  now: number,
  probes: readonly TimedProbe[],
  srv: readonly SrvLookup[],
  pause: () => Promise<void>,
): Promise<Report> {
  const steps = evaluateSteps(inventory, thresholds, now, probes, srv);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    await pause();
  }
}

const SLICE = 128;

function* evaluateSteps(
  inventory: Inventory,
  thresholds: Config['thresholds'],
  now: number,
  probes: readonly TimedProbe[],
  srv: readonly SrvLookup[],
): Generator<void, Report> {
  const ports = inventory.ports.map((p) => evaluatePort(p, inventory, thresholds, now));
  const portByKey = new Map(ports.map((p) => [`${p.service}:${p.port}`, p]));
  const domains: DomainReport[] = [];
  for (const entry of inventory.domains) {
    domains.push(evaluateDomain(entry, inventory, thresholds, now, portByKey));
    if (domains.length % SLICE === 0) yield;
  }
  const byDomain = new Map(domains.map((d) => [d.domain, d]));
  const served = probes.map((p) => judgeServed(p, byDomain.get(p.result.endpoint.domain), thresholds, now));
  yield;
  const files = evaluateFiles(inventory.files, domains, thresholds, now);
  yield;
  const readErrors = Object.fromEntries(READ_ERROR_REASONS.map((r) => [r, 0])) as Record<ReadErrorReason, number>;
  for (const { result } of files) if (!result.ok) readErrors[result.error.reason]++;
  const domainErrors = Object.fromEntries([...READ_ERROR_REASONS, ...LOAD_ERROR_REASONS].map((r) => [r, 0])) as Report['domainErrors'];
  for (const d of domains) if (d.status === 'error' && d.error) domainErrors[d.error.reason]++;
  const statuses = [...domains.map((d) => d.status), ...files.filter((f) => !f.servesConfiguredDomain).map((f) => f.status), ...served.map((s) => s.status)];
  return {
    generatedAt: now,
    scannedAt: inventory.scannedAt,
    ...(inventory.certsDir ? { certsDir: inventory.certsDir } : {}),
    overall: worst(statuses),
    domains,
    files,
    readErrors,
    domainErrors,
    sources: inventory.sources,
    ports,
    served,
    srv: [...srv],
  };
}

/** One (certificate, key) pair judged as Prosody would load it, then by expiry. */
interface PairVerdict {
  status: Status;
  leaf?: Certificate;
  thresholds?: ThresholdSeconds;
  error?: DomainError;
  detail: string;
  notChecked?: string;
}

function judgePair(
  domain: string,
  pair: { cert: string; key: string; keyFound: boolean },
  inventory: Inventory,
  config: Config['thresholds'],
  now: number,
): PairVerdict {
  const result = inventory.files.get(pair.cert);
  if (!result) return { status: 'missing', detail: `${pair.cert} was not read` };
  if (!result.ok) return { status: 'error', error: result.error, detail: `${pair.cert}: ${result.error.message}` };
  const leaf = result.certificates[0]!;
  const thresholds = resolveThresholds(thresholdsFor(domain, config), lifetime(leaf));
  const verdict = loadVerdict(pair.cert, pair.key, pair.keyFound, result, inventory.keys.get(keyFactsId(pair.cert, pair.key)));
  if (verdict.reason) return { status: 'error', leaf, thresholds, error: { reason: verdict.reason, message: verdict.message! }, detail: verdict.message! };
  const left = leaf.notAfter - now;
  return {
    status: certificateStatus(leaf, thresholds, now),
    leaf,
    thresholds,
    detail: left <= 0 ? `expired ${days(-left)} days ago` : `${days(left)} days left`,
    ...(verdict.notChecked ? { notChecked: verdict.notChecked } : {}),
  };
}

/** The pair itself and, for an ambiguous index hit, every alternative (Prosody may pick any). */
const pairsOf = (c: HostCert) => [{ cert: c.cert, key: c.key, keyFound: c.keyFound }, ...(c.alternatives ?? []).map((a) => ({ ...a, keyFound: true }))];

/**
 * portmanager opens a direct-TLS port only when its own context loads; without a table naming its
 * certificate that is any indexed one (find_service_cert), so every candidate must load.
 */
function evaluatePort(entry: PortEntry, inventory: Inventory, config: Config['thresholds'], now: number): PortReport {
  const base = { service: entry.service, port: entry.port };
  const refused = entry.candidates.map((c) => ({ c, v: judgePair(entry.service, c, inventory, config, now) })).filter(({ v }) => v.status === 'error');
  if (refused.length === 0) return { ...base, status: 'ok', refused: [], detail: `${entry.service} port ${entry.port}: its own certificate loads` };
  const pick = entry.candidates.length > 1 ? ' (Prosody picks any indexed certificate for it, per start)' : '';
  const detail = `the ${entry.service} port ${entry.port} may not open: its own certificate${pick} can be ${refused[0]!.c.cert}, which Prosody refuses (${refused[0]!.v.detail})`;
  return {
    ...base,
    status: 'error',
    error: { reason: refused[0]!.v.error?.reason ?? 'not_pem', message: detail },
    refused: refused.map((r) => r.c.cert),
    detail,
  };
}

function evaluateDomain(
  entry: DomainEntry,
  inventory: Inventory,
  config: Config['thresholds'],
  now: number,
  ports: ReadonlyMap<string, PortReport>,
): DomainReport {
  const verdicts = new Map<string, PairVerdict>();
  const judge: Judge = (p) => {
    const id = keyFactsId(p.cert, p.key);
    if (!verdicts.has(id)) verdicts.set(id, judgePair(entry.name, p, inventory, config, now));
    return verdicts.get(id)!;
  };
  // Every service is judged even without a main file: a direct-TLS port may serve a certificate of its own.
  const services = (entry.services ?? []).map((s) => withPort(serviceReport(s, judge), ports));
  const served = entry.served;
  const unknown = entry.services?.find((s) => s.unknown);
  if (!served) {
    const withoutFile = (status: Status, detail: string, error?: DomainError): DomainReport => ({
      domain: entry.name,
      origin: entry.origin,
      ambiguous: services.some((s) => s.fingerprints.length > 1),
      services,
      status,
      ...(error ? { error } : {}),
      detail,
    });
    if (entry.lookupError) return withoutFile('error', entry.lookupError, { reason: 'certs_dir_unreadable', message: entry.lookupError });
    if (unknown) return withoutFile('error', unknown.unknown!, { reason: 'lookup_unknown', message: unknown.unknown! });
    return withoutFile('missing', `no certificate found for ${entry.name} (Prosody would find none either)`);
  }
  const main = judge(pairsOf(served)[0]!);
  const mainFingerprint = main.leaf?.fingerprint;
  const alternatives = pairsOf(served)
    .slice(1)
    .filter((p) => judge(p).leaf?.fingerprint !== mainFingerprint);
  const ambiguous = alternatives.length > 0 || services.some((s) => s.fingerprints.length > 1);
  const all = [main, ...alternatives.map(judge), ...services.map((s) => ({ status: s.status }))];
  const status = worst(all.map((v) => v.status));
  const coveredBy = main.leaf ? nameCoverage(main.leaf, entry.name) : undefined;
  const problems = [
    main.detail,
    ...(main.leaf && !coveredBy ? [`does not cover ${entry.name}`] : []),
    ...(ambiguous ? [`ambiguous: ${[served.cert, ...alternatives.map((a) => a.cert)].join(' and ')} both carry the name; Prosody picks either`] : []),
    ...services.filter((s) => s.file !== served.cert && s.status !== 'ok').map((s) => `${s.service}: ${s.detail}`),
    ...(unknown ? [unknown.unknown!] : []),
  ];
  const firstError = [main, ...alternatives.map(judge)].find((v) => v.error)?.error ?? services.find((s) => s.error)?.error;
  return {
    domain: entry.name,
    origin: entry.origin,
    status,
    file: served.cert,
    keyFile: served.key,
    keyFound: served.keyFound,
    ...(main.leaf ? { leaf: main.leaf } : {}),
    ...(main.thresholds ? { thresholds: main.thresholds } : {}),
    ...(coveredBy ? { coveredBy } : {}),
    ...(status === 'error' && firstError ? { error: firstError } : {}),
    ambiguous,
    ...(alternatives.length > 0 ? { alternatives: alternatives.map((a) => a.cert) } : {}),
    services,
    ...(main.notChecked ? { notChecked: main.notChecked } : {}),
    detail: problems.join('; '),
  };
}

type Judge = (p: { cert: string; key: string; keyFound: boolean }) => PairVerdict;

/** A direct-TLS service is only as good as its port: a port that does not open serves nobody. */
function withPort(s: ServiceReport, ports: ReadonlyMap<string, PortReport>): ServiceReport {
  const broken = s.ports.map((p) => ports.get(`${s.service}:${p}`)).find((p) => p?.status === 'error');
  if (!broken || s.status === 'error') return s;
  // Object.assign, not `{ ...s, ... }`: see the header.
  return Object.assign({}, s, { status: 'error' as const, ...(broken.error ? { error: broken.error } : {}), detail: `${s.detail}; ${broken.detail}` });
}

function serviceReport(s: NonNullable<DomainEntry['services']>[number], judge: Judge): ServiceReport {
  if (s.unknown)
    return {
      service: s.service,
      ports: s.ports,
      fingerprints: [],
      status: 'error',
      error: { reason: 'lookup_unknown', message: s.unknown },
      detail: s.unknown,
    };
  if (!s.cert)
    return { service: s.service, ports: s.ports, fingerprints: [], status: 'missing', detail: 'no certificate: Prosody has none for this host here' };
  const verdicts = pairsOf(s.cert).map(judge);
  const fingerprints = [...new Set(verdicts.flatMap((v) => (v.leaf ? [v.leaf.fingerprint] : [])))];
  return {
    service: s.service,
    ports: s.ports,
    file: s.cert.cert,
    keyFile: s.cert.key,
    ...(s.cert.setBy ? { setBy: s.cert.setBy } : {}),
    fingerprints,
    status: worst(verdicts.map((v) => v.status)),
    ...(verdicts.find((v) => v.error) ? { error: verdicts.find((v) => v.error)!.error! } : {}),
    detail: `${s.cert.cert}${s.cert.setBy ? ` (${s.cert.setBy})` : ''}: ${verdicts[0]!.detail}`,
  };
}

function evaluateFiles(files: Map<string, FileResult>, domains: DomainReport[], config: Config['thresholds'], now: number): FileReport[] {
  const servedBy = new Map<string, Set<string>>();
  const add = (file: string | undefined, domain: string) => {
    if (!file) return;
    let set = servedBy.get(file);
    if (!set) servedBy.set(file, (set = new Set()));
    set.add(domain);
  };
  for (const d of domains) {
    add(d.file, d.domain);
    for (const a of d.alternatives ?? []) add(a, d.domain);
    for (const s of d.services) add(s.file, d.domain);
  }
  return [...files].map(([path, result]): FileReport => {
    const served = [...(servedBy.get(path) ?? [])];
    const used = served.length > 0;
    const domains = used ? served : [ownName(result)];
    const unused = used ? {} : { unusedSeverity: config.unusedFiles };
    if (!result.ok) return { path, domains, servesConfiguredDomain: used, ...unused, status: 'error', result };
    const leaf = result.certificates[0]!;
    // A domain's thresholds (overrides) apply only to the file Prosody uses for it; a file that
    // serves none is judged by the defaults, and counts only when clients could not use it at all.
    const thresholds = resolveThresholds(used ? thresholdsFor(served[0]!, config) : defaultThresholds(config), lifetime(leaf));
    const status = certificateStatus(leaf, thresholds, now);
    return { path, domains, servesConfiguredDomain: used, ...unused, status: used ? status : unusedStatus(leaf, now, config.unusedFiles), result, thresholds };
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
