/**
 * The JSON report of /status and `xmpp-cert status`, in the seed's shape: generated_at, the
 * overall status, and per domain its certificates with not_after, days_left, issuer, subject, SANs,
 * status and file. Snake_case keys and ISO dates, as the seed's consumers expect. Pure.
 */
import type { Certificate } from '../cert';
import type { StreamFeatures } from '../model/probe';
import type { DaneReport } from './dane';
import type { DomainReport, FileReport, Report } from './report';
import { certificateStatus } from './status';

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const daysLeft = (cert: Certificate, now: number) => Math.floor((cert.notAfter - now) / 86400);

function certificateJson(cert: Certificate, report: { thresholds?: DomainReport['thresholds'] }, now: number) {
  return {
    position: cert.position,
    subject: cert.subject,
    issuer: cert.issuer,
    sans: cert.dnsNames,
    serial: cert.serial,
    fingerprint_sha256: cert.fingerprint,
    key_type: cert.keyType,
    self_signed: cert.selfSigned,
    not_before: iso(cert.notBefore),
    not_after: iso(cert.notAfter),
    days_left: daysLeft(cert, now),
    ...(report.thresholds ? { status: certificateStatus(cert, report.thresholds, now) } : {}),
  };
}

function domainJson(d: DomainReport, files: Map<string, FileReport>, now: number) {
  const file = d.file ? files.get(d.file) : undefined;
  const certificates = file?.result.ok ? file.result.certificates.map((c) => certificateJson(c, d, now)) : [];
  return {
    domain: d.domain,
    origin: d.origin,
    status: d.status,
    detail: d.detail,
    file: d.file ?? null,
    key_file: d.keyFile ?? null,
    key_found: d.keyFound ?? null,
    covered: d.file ? d.coveredBy !== undefined : null,
    days_left: d.leaf ? daysLeft(d.leaf, now) : null,
    not_after: d.leaf ? iso(d.leaf.notAfter) : null,
    thresholds_seconds: d.thresholds ?? null,
    error: d.error ?? null,
    ambiguous: d.ambiguous,
    alternatives: d.alternatives ?? [],
    not_checked: d.notChecked ?? null,
    services: d.services.map((s) => ({
      service: s.service,
      ports: s.ports,
      file: s.file ?? null,
      key_file: s.keyFile ?? null,
      set_by: s.setBy ?? 'automatic',
      status: s.status,
      detail: s.detail,
    })),
    certificates,
  };
}

function daneJson(d: DaneReport) {
  return {
    name: d.name,
    lookup_ok: d.lookupOk,
    ...(d.lookupOk ? { authenticated: d.authenticated ?? false } : { reason: d.reason, message: d.message }),
    match: d.match ?? null,
    records: d.records.map((r) => ({
      usage: r.usage,
      selector: r.selector,
      matching_type: r.matchingType,
      data: r.data,
      usable: r.usable,
      matches: r.matches,
    })),
  };
}

function featuresJson(f: StreamFeatures) {
  const after = f.afterTls;
  return {
    mechanisms_before_tls: f.mechanismsBeforeTls,
    after_tls: after.ok
      ? { ok: true, mechanisms: after.mechanisms, channel_binding: after.mechanisms.some((m) => m.endsWith('-PLUS')), dialback: after.dialback }
      : { ok: false, reason: after.reason, message: after.message },
  };
}

export function statusJson(report: Report) {
  const now = report.generatedAt;
  const files = new Map(report.files.map((f) => [f.path, f]));
  return {
    generated_at: iso(now),
    overall_status: report.overall,
    certs_dir: report.certsDir ?? null,
    domains: report.domains.map((d) => domainJson(d, files, now)),
    files: report.files.map((f) => ({
      file: f.path,
      domains: f.domains,
      status: f.status,
      error: f.result.ok ? null : f.result.error,
      certificates: f.result.ok ? f.result.certificates.map((c) => certificateJson(c, f, now)) : [],
    })),
    served: report.served.map((s) => ({
      domain: s.domain,
      source: s.source,
      target: s.target,
      address: s.address ?? null,
      probed_at: iso(s.probedAt),
      ok: s.ok,
      status: s.status,
      detail: s.detail,
      ...(s.ok
        ? {
            trusted: s.trusted,
            matched_by: s.matchedBy ?? null,
            tls_version: s.tlsVersion,
            matches_disk: s.matchesDisk ?? null,
            certificates: s.chain.map((c) => certificateJson(c, {}, now)),
          }
        : { reason: s.reason, message: s.message }),
      ...(s.dane ? { dane: daneJson(s.dane) } : {}),
      ...(s.features ? { features: featuresJson(s.features) } : {}),
    })),
    srv: report.srv.map((l) => ({
      domain: l.domain,
      service: l.service,
      name: l.name,
      answer: l.answer,
      ...(l.reason ? { reason: l.reason, message: l.message ?? null } : {}),
      answered_at: l.answeredAt === undefined ? null : iso(l.answeredAt),
      kept_targets: l.kept,
    })),
    read_errors: report.readErrors,
    domain_errors: report.domainErrors,
    ports: report.ports.map((p) => ({ service: p.service, port: p.port, status: p.status, detail: p.detail, refused: p.refused })),
    sources: report.sources.map((s) => ({ source: s.name, up: s.up, ...(s.error ? { error: s.error } : {}), ...(s.stale ? { stale: true } : {}) })),
  };
}
