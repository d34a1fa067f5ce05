/**
 * The shapes of a judged scan: per domain, per file, per live endpoint, and the Report holding them
 * all, which /metrics, /status and the monitor read. Plain types; report.ts and served.ts fill them.
 */
import type { Certificate, FileResult, ReadErrorReason } from '../cert';
import type { Config } from '../config';
import type { DomainOrigin, LoadErrorReason, SourceState, TlsService } from '../model/inventory';
import type { Endpoint, ProbeFailureReason, SrvLookup, StreamFeatures } from '../model/probe';
import type { DaneReport } from './dane';
import type { Status } from './status';
import type { ThresholdSeconds } from './thresholds';

/** Why a domain is `error`: its file could not be read, or Prosody would refuse to load the pair. */
export interface DomainError {
  reason: ReadErrorReason | LoadErrorReason;
  message: string;
}

/** One TLS service of a domain and the file it uses, judged on its own. */
export interface ServiceReport {
  service: TlsService;
  ports: number[];
  file?: string;
  keyFile?: string;
  /** Which config table set the file; absent when Prosody's own lookup found it. */
  setBy?: string;
  /** SHA-256 of the leaves Prosody may serve here (more than one when the index is ambiguous). */
  fingerprints: string[];
  status: Status;
  error?: DomainError;
  detail: string;
}

/** A direct-TLS port's own context: Prosody opens the port only when it loads. */
export interface PortReport {
  service: TlsService;
  port: number;
  status: 'ok' | 'error';
  error?: DomainError;
  /** Files the port's own context may load that Prosody would refuse. */
  refused: string[];
  detail: string;
}

export interface DomainReport {
  domain: string;
  origin: DomainOrigin;
  status: Status;
  /** One line saying why, for /status, the monitor table and alert events. */
  detail: string;
  file?: string;
  keyFile?: string;
  keyFound?: boolean;
  /** The leaf's identifier that covers the domain; undefined when none does. */
  coveredBy?: string;
  leaf?: Certificate;
  /** Undefined until a certificate's lifetime is known (percent and auto thresholds need it). */
  thresholds?: ThresholdSeconds;
  error?: DomainError;
  /** Two or more indexed files with different certificates carry the name: Prosody picks either per start. */
  ambiguous: boolean;
  /** The other files of an ambiguous lookup. */
  alternatives?: string[];
  /** Per TLS service the domain is served on (see model/inventory.ts TLS_SERVICES). */
  services: ServiceReport[];
  /** Checks that could not be made (e.g. the exporter may not read the key); not a problem by itself. */
  notChecked?: string;
}

export type UnusedFileSeverity = Config['thresholds']['unusedFiles'];

export interface FileReport {
  path: string;
  /** The domains this file serves; for a file serving none, the leaf's own name. */
  domains: string[];
  servesConfiguredDomain: boolean;
  /** For a file that serves no watched domain: the severity `thresholds.unusedFiles` gives it. */
  unusedSeverity?: UnusedFileSeverity;
  status: Status;
  result: FileResult;
  thresholds?: ThresholdSeconds;
}

export interface Report {
  generatedAt: number;
  /** When the scan this report judges finished (generatedAt moves on with every probe round too). */
  scannedAt: number;
  certsDir?: string;
  overall: Status;
  domains: DomainReport[];
  files: FileReport[];
  readErrors: Record<ReadErrorReason, number>;
  /** Domains in status `error`, by reason (every reason present, 0 when none). */
  domainErrors: Record<DomainError['reason'], number>;
  sources: SourceState[];
  /** Direct-TLS ports whose own context may fail to load (the port then stays closed for every host). */
  ports: PortReport[];
  /** What the live endpoints served, judged against the files; empty when probes are off. */
  served: ServedReport[];
  /** The outcome of each domain's SRV lookups in the last probe round; empty when probes or SRV are off. */
  srv: SrvLookup[];
}

export interface ServedReport {
  domain: string;
  endpoint: Endpoint;
  source: string;
  target: string; // host:port
  /** The IP address probed; unset when the host had none (a `dns` failure). */
  address?: string;
  probedAt: number;
  durationSeconds: number;
  ok: boolean;
  reason?: ProbeFailureReason;
  message?: string;
  /** The served chain, leaf first; empty when the probe failed. */
  chain: Certificate[];
  trusted?: boolean;
  trustError?: string;
  /** How the leaf matched the domain (e.g. `DNS:*.example.org`); undefined when it does not. */
  matchedBy?: string;
  tlsVersion?: string;
  /** Undefined when there is no readable certificate on disk to compare with. */
  matchesDisk?: boolean;
  /** The TLSA records of the endpoint judged against the chain; unset when its host is an IP address. */
  dane?: DaneReport;
  /** XMPP endpoints: the SASL mechanisms and dialback offered before and after TLS. */
  features?: StreamFeatures;
  status: Status;
  /** One line for /status and the monitor table, naming what is wrong. */
  detail: string;
}
