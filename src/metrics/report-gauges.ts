/**
 * Gauges derived from a Report: certificate timestamps and info, thresholds, domain status, name
 * coverage, key presence, read errors and source health. A Report never changes, so its text is
 * rendered once, one family at a time: put that family's series in its gauge, let prom-client
 * write them, empty the gauge again. Holding 100k label sets at once (or between scans) would cost
 * more memory than the text itself. The caller renders each Report once and
 * serves the bytes to every scrape until the next scan.
 */
import { Gauge, Registry } from 'prom-client';
import { READ_ERROR_REASONS, type Certificate } from '../cert';
import { LEVELS, type FileReport, type Report } from '../evaluate';
import { SOURCE_NAMES } from '../sources/inventory-types';

const CERT_LABELS = ['domain', 'source', 'target', 'position'] as const;
const INFO_LABELS = [...CERT_LABELS, 'serial', 'fingerprint', 'issuer', 'subject', 'key_type', 'self_signed'] as const;

type Sample<L extends string> = [labels: Partial<Record<L, string>>, value: number];
type Family = { name: string; gauge: Gauge<string>; samples: (report: Report) => Iterable<Sample<string>> };

export function createReportRenderer(): (report: Report | undefined) => Promise<Buffer[]> {
  const registry = new Registry();
  const families: Family[] = [];
  const family = <L extends string>(name: string, help: string, labelNames: readonly L[], samples: (report: Report) => Iterable<Sample<L>>) => {
    const gauge = new Gauge<L>({ name, help, labelNames, registers: [registry] });
    families.push({ name, gauge: gauge as unknown as Gauge<string>, samples: samples as Family['samples'] });
  };

  family('xmpp_cert_not_after_timestamp_seconds', 'Certificate notAfter (expiry) as a Unix timestamp.', CERT_LABELS, function* (r) {
    for (const [labels, cert] of certificates(r)) yield [labels, cert.notAfter];
  });
  family('xmpp_cert_not_before_timestamp_seconds', 'Certificate notBefore as a Unix timestamp.', CERT_LABELS, function* (r) {
    for (const [labels, cert] of certificates(r)) yield [labels, cert.notBefore];
  });
  family('xmpp_cert_info', 'Certificate details; always 1. fingerprint is the SHA-256 of the DER.', INFO_LABELS, function* (r) {
    for (const [labels, c] of certificates(r)) {
      yield [{ ...labels, serial: c.serial, fingerprint: c.fingerprint, issuer: c.issuer, subject: c.subject, key_type: c.keyType, self_signed: String(c.selfSigned) }, 1];
    }
  });
  family('xmpp_cert_threshold_seconds', 'Configured threshold as remaining seconds, per domain and level (warning, critical, renewal).', ['domain', 'level'], function* (r) {
    for (const d of r.domains) if (d.thresholds) for (const level of LEVELS) yield [{ domain: d.domain, level }, d.thresholds[level]];
  });
  family('xmpp_cert_domain_status', 'Domain status (ok, warning, critical, expired, missing, error); one series per domain, valued 1.', ['domain', 'status'], function* (r) {
    for (const d of r.domains) yield [{ domain: d.domain, status: d.status }, 1];
  });
  family('xmpp_cert_name_covered', '1 when the certificate serving the domain covers it (RFC 6125), else 0.', ['domain', 'source', 'target'], function* (r) {
    for (const d of r.domains) if (d.file && d.leaf) yield [{ domain: d.domain, source: 'file', target: d.file }, d.coveredBy ? 1 : 0];
  });
  family('xmpp_cert_key_found', '1 when the private key beside the certificate Prosody would use exists, else 0.', ['domain', 'file', 'key_file'], function* (r) {
    for (const d of r.domains) if (d.file && d.keyFile) yield [{ domain: d.domain, file: d.file, key_file: d.keyFile }, d.keyFound ? 1 : 0];
  });
  family('xmpp_cert_file_errors', 'Certificate files that could not be used, by reason.', ['reason'], function* (r) {
    for (const reason of READ_ERROR_REASONS) yield [{ reason }, r.readErrors[reason]];
  });
  family('xmpp_cert_file_error_info', 'A certificate file that could not be used; always 1.', ['file', 'reason'], function* (r) {
    for (const f of r.files) if (!f.result.ok) yield [{ file: f.path, reason: f.result.error.reason }, 1];
  });
  family('xmpp_cert_source_up', '1 when the source (prosody_config, certs_dir, files) was read in the last scan, else 0.', ['source'], function* (r) {
    for (const name of SOURCE_NAMES) {
      const source = r.sources.find((s) => s.name === name);
      if (source) yield [{ source: name }, source.up ? 1 : 0];
    }
  });
  family('xmpp_cert_last_scan_timestamp_seconds', 'When the last scan finished, as a Unix timestamp.', [], function* (r) {
    yield [{}, r.generatedAt];
  });

  return async (report) => {
    const chunks: Buffer[] = [];
    for (const { name, gauge, samples } of families) {
      for (const [labels, value] of report ? samples(report) : []) gauge.set(labels, value);
      chunks.push(Buffer.from(`${await registry.getSingleMetricAsString(name)}\n`));
      gauge.reset();
    }
    return chunks;
  };
}

/** Every certificate of every readable file, once per domain the file serves. */
function* certificates(report: Report): Iterable<[Record<(typeof CERT_LABELS)[number], string>, Certificate]> {
  for (const file of report.files) {
    if (!file.result.ok) continue;
    for (const domain of file.domains) for (const cert of file.result.certificates) yield [certLabels(domain, file, cert), cert];
  }
}

const certLabels = (domain: string, file: FileReport, cert: Certificate) => ({ domain, source: 'file', target: file.path, position: String(cert.position) });
