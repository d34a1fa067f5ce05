/**
 * Gauges derived from a Report: certificate timestamps and info, thresholds, domain status, name
 * coverage, key presence, read errors and source health. A Report never changes, so its text is
 * rendered once, one family at a time, straight to bytes (text-format.ts; no prom-client gauge
 * holds the ~120,000 label sets of 10,000 files). The caller renders each Report once and serves
 * the bytes to every scrape until the next scan.
 */
import { READ_ERROR_REASONS, type Certificate } from '../cert';
import { LEVELS, type Report } from '../evaluate';
import { LOAD_ERROR_REASONS, SOURCE_NAMES } from '../model/inventory';
import { DNS_FAILURE_REASONS, PROBE_FAILURE_REASONS } from '../model/probe';
import { TextWriter } from './text-format';

/** `address` only on live endpoints (the IP probed); files and failed resolutions have none. */
const CERT_LABELS = ['domain', 'source', 'target', 'address', 'position'] as const;
const INFO_LABELS = [...CERT_LABELS, 'serial', 'fingerprint', 'issuer', 'subject', 'key_type', 'self_signed'] as const;
const ENDPOINT_LABELS = ['domain', 'source', 'target', 'address'] as const;
const SRV_LABELS = ['domain', 'service'] as const;

type Sample<L extends string> = [labels: Partial<Record<L, string>>, value: number];
type Family = { name: string; help: string; labelNames: readonly string[]; samples: (report: Report) => Iterable<Sample<string>>; endpoints: boolean };

/** Families that speak of live endpoints (and certificates): what /probe answers with. */
const ENDPOINT_FAMILIES = new Set([
  'xmpp_cert_not_after_timestamp_seconds',
  'xmpp_cert_not_before_timestamp_seconds',
  'xmpp_cert_info',
  'xmpp_cert_name_covered',
  'xmpp_cert_probe_success',
  'xmpp_cert_probe_failure',
  'xmpp_cert_probe_duration_seconds',
  'xmpp_cert_probe_timestamp_seconds',
  'xmpp_cert_trusted',
  'xmpp_cert_tls_version_info',
  'xmpp_cert_served_matches_disk',
  'xmpp_cert_dane_match',
  'xmpp_cert_dane_authenticated',
  'xmpp_cert_dane_lookup_success',
  'xmpp_cert_stream_features_success',
  'xmpp_cert_sasl_mechanism_info',
  'xmpp_cert_channel_binding_offered',
  'xmpp_cert_dialback_offered',
  'xmpp_cert_sasl_external_offered',
  'xmpp_cert_srv_lookup_success',
  'xmpp_cert_srv_lookup_failure',
  'xmpp_cert_srv_answer_timestamp_seconds',
]);

export type ReportRenderer = (report: Report | undefined, options?: { endpointsOnly?: boolean }) => Buffer[];

/** The families in exposition order; `labelNames` orders each sample's labels and types them. */
const families: Family[] = [];
const family = <L extends string>(name: string, help: string, labelNames: readonly L[], samples: (report: Report) => Iterable<Sample<L>>) => {
  families.push({ name, help, labelNames, samples: samples as Family['samples'], endpoints: ENDPOINT_FAMILIES.has(name) });
};

family('xmpp_cert_not_after_timestamp_seconds', 'Certificate notAfter (expiry) as a Unix timestamp.', CERT_LABELS, function* (r) {
  for (const [labels, cert] of certificates(r)) yield [labels, cert.notAfter];
});
family('xmpp_cert_not_before_timestamp_seconds', 'Certificate notBefore as a Unix timestamp.', CERT_LABELS, function* (r) {
  for (const [labels, cert] of certificates(r)) yield [labels, cert.notBefore];
});
family('xmpp_cert_info', 'Certificate details; always 1. fingerprint is the SHA-256 of the DER.', INFO_LABELS, function* (r) {
  for (const [labels, c] of certificates(r)) {
    yield [
      { ...labels, serial: c.serial, fingerprint: c.fingerprint, issuer: c.issuer, subject: c.subject, key_type: c.keyType, self_signed: String(c.selfSigned) },
      1,
    ];
  }
});
family(
  'xmpp_cert_threshold_seconds',
  'Configured threshold as remaining seconds, per domain and level (warning, critical, renewal).',
  ['domain', 'level'],
  function* (r) {
    for (const d of r.domains) if (d.thresholds) for (const level of LEVELS) yield [{ domain: d.domain, level }, d.thresholds[level]];
  },
);
family(
  'xmpp_cert_domain_status',
  'Domain status (ok, warning, critical, expired, missing, error); one series per domain, valued 1.',
  ['domain', 'status'],
  function* (r) {
    for (const d of r.domains) yield [{ domain: d.domain, status: d.status }, 1];
  },
);
family(
  'xmpp_cert_name_covered',
  '1 when the certificate serving the domain covers it (files: RFC 6125 DNS-ID; live: also SRV-ID and XmppAddr), else 0.',
  ENDPOINT_LABELS,
  function* (r) {
    for (const d of r.domains) if (d.file && d.leaf) yield [{ domain: d.domain, source: 'file', target: d.file }, d.coveredBy ? 1 : 0];
    for (const s of r.served) if (s.ok && s.chain.length > 0) yield [endpointLabels(s), s.matchedBy ? 1 : 0];
  },
);
family('xmpp_cert_probe_success', '1 when the live endpoint answered and served a certificate, else 0.', ENDPOINT_LABELS, function* (r) {
  for (const s of r.served) yield [endpointLabels(s), s.ok ? 1 : 0];
});
family(
  'xmpp_cert_probe_failure',
  'Why the last probe failed: 1 for the reason, 0 for the others; all 0 after a success.',
  [...ENDPOINT_LABELS, 'reason'],
  function* (r) {
    for (const s of r.served) for (const reason of PROBE_FAILURE_REASONS) yield [{ ...endpointLabels(s), reason }, s.reason === reason ? 1 : 0];
  },
);
family('xmpp_cert_probe_duration_seconds', 'How long the last probe of the endpoint took.', ENDPOINT_LABELS, function* (r) {
  for (const s of r.served) yield [endpointLabels(s), s.durationSeconds];
});
family('xmpp_cert_probe_timestamp_seconds', 'When the endpoint was last probed (probes run every probes.interval).', ENDPOINT_LABELS, function* (r) {
  for (const s of r.served) yield [endpointLabels(s), s.probedAt];
});
family('xmpp_cert_trusted', '1 when the served chain verifies against the system roots plus probes.ca, else 0.', ENDPOINT_LABELS, function* (r) {
  for (const s of r.served) if (s.ok) yield [endpointLabels(s), s.trusted ? 1 : 0];
});
family('xmpp_cert_tls_version_info', 'The TLS version the endpoint negotiated; always 1.', [...ENDPOINT_LABELS, 'version'], function* (r) {
  for (const s of r.served) if (s.ok && s.tlsVersion) yield [{ ...endpointLabels(s), version: s.tlsVersion }, 1];
});
family(
  'xmpp_cert_served_matches_disk',
  '1 when the served leaf is the on-disk certificate Prosody should be using (SHA-256), 0 when not (reload Prosody).',
  ENDPOINT_LABELS,
  function* (r) {
    for (const s of r.served) if (s.matchesDisk !== undefined) yield [endpointLabels(s), s.matchesDisk ? 1 : 0];
  },
);
family(
  'xmpp_cert_dane_match',
  '1 when a DANE-TA or DANE-EE TLSA record at _PORT._tcp.TARGET matches the served chain, 0 when none does; absent without such records.',
  ENDPOINT_LABELS,
  function* (r) {
    for (const s of r.served) if (s.dane?.match !== undefined) yield [endpointLabels(s), s.dane.match ? 1 : 0];
  },
);
family(
  'xmpp_cert_dane_authenticated',
  "1 when the resolver validated the endpoint's TLSA answer with DNSSEC (the AD bit), else 0; only where TLSA records exist.",
  ENDPOINT_LABELS,
  function* (r) {
    for (const s of r.served) if (s.dane?.lookupOk && s.dane.records.length > 0) yield [endpointLabels(s), s.dane.authenticated ? 1 : 0];
  },
);
family(
  'xmpp_cert_dane_lookup_success',
  '1 when the TLSA lookup of the endpoint was answered (records or none), 0 when it failed (SERVFAIL: DNSSEC-bogus or broken DNS).',
  ENDPOINT_LABELS,
  function* (r) {
    for (const s of r.served) if (s.dane) yield [endpointLabels(s), s.dane.lookupOk ? 1 : 0];
  },
);
family(
  'xmpp_cert_stream_features_success',
  'XMPP endpoints: 1 when the stream was restarted over TLS and its features read, else 0.',
  ENDPOINT_LABELS,
  function* (r) {
    for (const s of r.served) if (s.features) yield [endpointLabels(s), s.features.afterTls.ok ? 1 : 0];
  },
);
family(
  'xmpp_cert_sasl_mechanism_info',
  'A SASL mechanism the XMPP stream offered, before TLS (tls=false) or after it (tls=true); always 1.',
  [...ENDPOINT_LABELS, 'tls', 'mechanism'],
  function* (r) {
    for (const s of r.served) {
      if (!s.features) continue;
      for (const mechanism of s.features.mechanismsBeforeTls) yield [{ ...endpointLabels(s), tls: 'false', mechanism }, 1];
      const after = s.features.afterTls;
      if (after.ok) for (const mechanism of after.mechanisms) yield [{ ...endpointLabels(s), tls: 'true', mechanism }, 1];
    }
  },
);
family(
  'xmpp_cert_channel_binding_offered',
  'c2s endpoints: 1 when a channel-binding SASL mechanism (-PLUS) is offered after TLS, else 0.',
  ENDPOINT_LABELS,
  function* (r) {
    for (const [s, after] of afterTls(r, 'c2s')) yield [endpointLabels(s), after.mechanisms.some((m) => m.endsWith('-PLUS')) ? 1 : 0];
  },
);
family('xmpp_cert_dialback_offered', 's2s endpoints: 1 when server dialback (XEP-0220) is offered after TLS, else 0.', ENDPOINT_LABELS, function* (r) {
  for (const [s, after] of afterTls(r, 's2s')) yield [endpointLabels(s), after.dialback ? 1 : 0];
});
family(
  'xmpp_cert_sasl_external_offered',
  's2s endpoints: 1 when SASL EXTERNAL is offered after TLS, else 0 (servers offer it only to a peer whose certificate they verified).',
  ENDPOINT_LABELS,
  function* (r) {
    for (const [s, after] of afterTls(r, 's2s')) yield [endpointLabels(s), after.mechanisms.includes('EXTERNAL') ? 1 : 0];
  },
);
family(
  'xmpp_cert_srv_lookup_success',
  '1 when DNS answered the SRV lookup (records, none, or NXDOMAIN), 0 when it failed; the last answer is probed meanwhile.',
  SRV_LABELS,
  function* (r) {
    for (const l of r.srv) yield [{ domain: l.domain, service: l.service }, l.answer === 'failed' ? 0 : 1];
  },
);
family(
  'xmpp_cert_srv_lookup_failure',
  'Why the last SRV lookup failed: 1 for the reason, 0 for the others; all 0 after an answer.',
  [...SRV_LABELS, 'reason'],
  function* (r) {
    for (const l of r.srv) for (const reason of DNS_FAILURE_REASONS) yield [{ domain: l.domain, service: l.service, reason }, l.reason === reason ? 1 : 0];
  },
);
family(
  'xmpp_cert_srv_answer_timestamp_seconds',
  'When DNS last answered the SRV lookup: the endpoints probed come from that answer.',
  SRV_LABELS,
  function* (r) {
    for (const l of r.srv) if (l.answeredAt !== undefined) yield [{ domain: l.domain, service: l.service }, l.answeredAt];
  },
);
family('xmpp_cert_key_found', '1 when the private key beside the certificate Prosody would use exists, else 0.', ['domain', 'file', 'key_file'], function* (r) {
  for (const d of r.domains) if (d.file && d.keyFile) yield [{ domain: d.domain, file: d.file, key_file: d.keyFile }, d.keyFound ? 1 : 0];
});
family(
  'xmpp_cert_file_unused',
  'A readable certificate file that serves no watched domain; always 1. severity is thresholds.unusedFiles (warning, or none: no alert).',
  ['domain', 'source', 'target', 'severity'],
  function* (r) {
    for (const f of r.files)
      if (f.result.ok && f.unusedSeverity) yield [{ domain: f.domains[0]!, source: 'file', target: f.path, severity: f.unusedSeverity }, 1];
  },
);
family(
  'xmpp_cert_lookup_ambiguous',
  "1 when two or more indexed files with different certificates carry the domain's name (Prosody picks either, per start), else 0.",
  ['domain'],
  function* (r) {
    for (const d of r.domains) yield [{ domain: d.domain }, d.ambiguous ? 1 : 0];
  },
);
family(
  'xmpp_cert_domain_errors',
  'Domains in status error, by reason (the file cannot be read, or Prosody would refuse to load it).',
  ['reason'],
  function* (r) {
    for (const reason of [...READ_ERROR_REASONS, ...LOAD_ERROR_REASONS]) yield [{ reason }, r.domainErrors[reason]];
  },
);
family('xmpp_cert_domain_error_info', 'A domain in status error and why; always 1.', ['domain', 'reason'], function* (r) {
  for (const d of r.domains) if (d.status === 'error' && d.error) yield [{ domain: d.domain, reason: d.error.reason }, 1];
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
  // The scan's own time: a report is judged again after every probe round, a hung scan is not.
  yield [{}, r.scannedAt];
});

/**
 * The text of `report`'s families; without a Report, HELP and TYPE only. With `endpointsOnly`
 * (/probe), just the endpoint families that have samples, as blackbox_exporter answers a probe:
 * /metrics lists every family, a probe's answer only what it found.
 */
export const renderReport: ReportRenderer = (report, options = {}) => {
  const writer = new TextWriter();
  for (const { name, help, labelNames, samples, endpoints } of families) {
    if (options.endpointsOnly && !endpoints) continue;
    writer.gauge(name, help, labelNames, report ? samples(report) : [], { omitEmpty: options.endpointsOnly === true });
  }
  return writer.finish();
};

type CertLabels = Partial<Record<(typeof CERT_LABELS)[number], string>>;

/** Every certificate of every readable file, once per domain the file serves; then every served chain. */
function* certificates(report: Report): Iterable<[CertLabels, Certificate]> {
  for (const file of report.files) {
    if (!file.result.ok) continue;
    for (const domain of file.domains) {
      for (const cert of file.result.certificates) yield [{ domain, source: 'file', target: file.path, position: String(cert.position) }, cert];
    }
  }
  for (const s of report.served) for (const cert of s.chain) yield [{ ...endpointLabels(s), position: String(cert.position) }, cert];
}

const endpointLabels = (s: Report['served'][number]) => ({ domain: s.domain, source: s.source, target: s.target, address: s.address });

type AfterTls = Extract<NonNullable<Report['served'][number]['features']>['afterTls'], { ok: true }>;

/** Endpoints of `service` (c2s: STARTTLS and direct TLS alike) whose stream features were read after TLS. */
function* afterTls(report: Report, service: 'c2s' | 's2s'): Iterable<[Report['served'][number], AfterTls]> {
  for (const s of report.served) if (s.endpoint.module.startsWith(service) && s.features?.afterTls.ok) yield [s, s.features.afterTls];
}
