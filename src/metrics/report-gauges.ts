/**
 * Gauges derived from the latest Report: certificate timestamps and info, thresholds, domain
 * status, name coverage, key presence, read errors and source health. They are rebuilt at scrape
 * time, synchronously and only when the report changed, so a scrape never parses a file and two
 * concurrent scrapes never see half a gauge.
 */
import { Gauge, type Registry } from 'prom-client';
import { READ_ERROR_REASONS, type Certificate } from '../cert';
import { LEVELS, type Report } from '../evaluate';
import { SOURCE_NAMES } from '../sources/inventory-types';

const CERT_LABELS = ['domain', 'source', 'target', 'position'] as const;
const INFO_LABELS = [...CERT_LABELS, 'serial', 'fingerprint', 'issuer', 'subject', 'key_type', 'self_signed'] as const;

export function registerReportGauges(registry: Registry, getReport: () => Report | undefined): void {
  let shown: Report | undefined;
  const g = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry], collect: () => sync() });

  const notAfter = g('xmpp_cert_not_after_timestamp_seconds', 'Certificate notAfter (expiry) as a Unix timestamp.', CERT_LABELS);
  const notBefore = g('xmpp_cert_not_before_timestamp_seconds', 'Certificate notBefore as a Unix timestamp.', CERT_LABELS);
  const info = g('xmpp_cert_info', 'Certificate details; always 1. fingerprint is the SHA-256 of the DER.', INFO_LABELS);
  const threshold = g('xmpp_cert_threshold_seconds', 'Configured threshold as remaining seconds, per domain and level (warning, critical, renewal).', ['domain', 'level']);
  const status = g('xmpp_cert_domain_status', 'Domain status (ok, warning, critical, expired, missing, error); one series per domain, valued 1.', ['domain', 'status']);
  const covered = g('xmpp_cert_name_covered', '1 when the certificate serving the domain covers it (RFC 6125), else 0.', ['domain', 'source', 'target']);
  const keyFound = g('xmpp_cert_key_found', '1 when the private key beside the certificate Prosody would use exists, else 0.', ['domain', 'file', 'key_file']);
  const errors = g('xmpp_cert_file_errors', 'Certificate files that could not be used, by reason.', ['reason']);
  const errorInfo = g('xmpp_cert_file_error_info', 'A certificate file that could not be used; always 1.', ['file', 'reason']);
  const sourceUp = g('xmpp_cert_source_up', '1 when the source (prosody_config, certs_dir, files) was read in the last scan, else 0.', ['source']);
  const lastScan = g('xmpp_cert_last_scan_timestamp_seconds', 'When the last scan finished, as a Unix timestamp.', []);

  function sync(): void {
    const report = getReport();
    if (report === shown) return;
    shown = report;
    for (const gauge of [notAfter, notBefore, info, threshold, status, covered, keyFound, errors, errorInfo, sourceUp, lastScan]) gauge.reset();
    if (!report) return;

    for (const file of report.files) {
      if (!file.result.ok) {
        errorInfo.set({ file: file.path, reason: file.result.error.reason }, 1);
        continue;
      }
      for (const domain of file.domains) for (const cert of file.result.certificates) setCertificate(domain, file.path, cert);
    }
    for (const d of report.domains) {
      status.set({ domain: d.domain, status: d.status }, 1);
      if (d.thresholds) for (const level of LEVELS) threshold.set({ domain: d.domain, level }, d.thresholds[level]);
      if (d.file && d.leaf) covered.set({ domain: d.domain, source: 'file', target: d.file }, d.coveredBy ? 1 : 0);
      if (d.file && d.keyFile) keyFound.set({ domain: d.domain, file: d.file, key_file: d.keyFile }, d.keyFound ? 1 : 0);
    }
    for (const reason of READ_ERROR_REASONS) errors.set({ reason }, report.readErrors[reason]);
    for (const name of SOURCE_NAMES) {
      const source = report.sources.find((s) => s.name === name);
      if (source) sourceUp.set({ source: name }, source.up ? 1 : 0);
    }
    lastScan.set(report.generatedAt);
  }

  function setCertificate(domain: string, target: string, cert: Certificate): void {
    const labels = { domain, source: 'file', target, position: String(cert.position) };
    notAfter.set(labels, cert.notAfter);
    notBefore.set(labels, cert.notBefore);
    info.set(
      {
        ...labels,
        serial: cert.serial,
        fingerprint: cert.fingerprint,
        issuer: cert.issuer,
        subject: cert.subject,
        key_type: cert.keyType,
        self_signed: String(cert.selfSigned),
      },
      1,
    );
  }
}
