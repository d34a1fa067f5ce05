/**
 * What one scan of every source found, before any judgement: the domains to watch, which file
 * Prosody would serve for each, and every certificate file read. Produced by sources/inventory.ts
 * (with discovery/), consumed by evaluate/, renewal/ and metrics/. Plain data: the model the
 * layers share, so that evaluate never imports sources.
 */
import type { FileResult } from '../cert';

/** Which of Prosody's file-name rules found a certificate (discovery/cert-lookup.ts). */
export type FileRule = 'crt' | 'fullchain' | 'pem';

/** The certificate and key Prosody would use for a host, by its own lookup (discovery/cert-lookup.ts). */
export interface HostCert {
  host: string;
  cert: string;
  key: string;
  keyFound: boolean;
  via: FileRule | 'index';
  /** The host or parent domain whose lookup hit. */
  matchedName: string;
}

export type DomainOrigin = 'VirtualHost' | 'Component' | 'config';

export interface DomainEntry {
  name: string;
  origin: DomainOrigin;
  /** The certificate Prosody would use, by its own lookup rules; undefined when none is found. */
  served?: HostCert;
}

export const SOURCE_NAMES = ['prosody_config', 'certs_dir', 'files'] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

export interface SourceState {
  name: SourceName;
  up: boolean;
  /** Why it is down, naming the file and what to do. */
  error?: string;
}

export interface Inventory {
  scannedAt: number; // Unix seconds
  certsDir?: string;
  domains: DomainEntry[];
  /** Every certificate file read, by absolute path, in a stable order. */
  files: Map<string, FileResult>;
  sources: SourceState[];
}
