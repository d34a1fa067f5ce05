/**
 * What one scan of every source found, before any judgement: the domains to watch, which file
 * Prosody would use for each (per TLS service and port), facts about those files that decide
 * whether Prosody could load them (key present, readable, matching), and every certificate file
 * read. Produced by sources/inventory.ts (with discovery/), consumed by evaluate/, renewal/ and
 * metrics/. Plain data: the model the layers share, so that evaluate never imports sources.
 */
import type { FileResult } from '../cert';

/** Which of Prosody's file-name rules found a certificate (discovery/cert-lookup.ts). */
export type FileRule = 'crt' | 'fullchain' | 'pem';

/**
 * Prosody's TLS services whose certificate can differ per host: STARTTLS on c2s and s2s (mod_tls),
 * and the direct-TLS ports (portmanager's SNI contexts).
 */
export const TLS_SERVICES = ['c2s', 's2s', 'c2s_direct_tls', 's2s_direct_tls', 'legacy_ssl', 'https'] as const;
export type TlsService = (typeof TLS_SERVICES)[number];

/** The certificate and key Prosody would use for a host, by its own lookup (discovery/cert-lookup.ts). */
export interface HostCert {
  host: string;
  cert: string;
  key: string;
  /** The key file exists (Prosody's automatic lookup only ever picks pairs whose key exists). */
  keyFound: boolean;
  /** 'index': the certificate index; a file rule: find_cert's names; 'option': an `ssl`-style table set the file. */
  via: FileRule | 'index' | 'option';
  /** The host or parent domain whose lookup hit (for 'option', the host). */
  matchedName: string;
  /** Which config table set the certificate, e.g. `ssl of example.org`, `c2s_ssl (global)`; absent when Prosody found it by itself. */
  setBy?: string;
  /** Where that table sets `certificate`: `file:line` of prosody.cfg.lua or an Included file. */
  setAt?: string;
  /** The config table that set the key, when one did (maybe one that sets only `key`), and where. */
  keySetBy?: string;
  keySetAt?: string;
  /**
   * Other indexed files carrying the same name: Prosody takes whichever its hash table yields first,
   * which can differ between starts. Absent when there is only one.
   */
  alternatives?: Array<{ cert: string; key: string }>;
}

/** What one service of a host uses. */
export interface ServiceLookup {
  service: TlsService;
  /** The ports this answer holds for (`<service>_ports`, or the default port); empty when the service does not listen. */
  ports: number[];
  /** The certificate; absent when Prosody would have none for this host on this service. */
  cert?: HostCert;
  /** Why the file cannot be told: an option computed at run time (e.g. `ENV_CERTS .. "/x.crt"`). */
  unknown?: string;
}

/**
 * A direct-TLS port's own context (portmanager get_port_ssl_ctx): Prosody opens the port only when
 * that context loads, for every host on it. Without a `<service>_ssl` certificate it takes any
 * indexed certificate (find_service_cert iterates the index in hash order, per start): every
 * candidate must load, or the port may stay closed.
 */
export interface PortEntry {
  service: TlsService;
  port: number;
  candidates: Array<{ cert: string; key: string; keyFound: boolean }>;
  /** Which config table set the certificate; absent when it comes from the index or file names. */
  setBy?: string;
}

export type DomainOrigin = 'VirtualHost' | 'Component' | 'config';

export interface DomainEntry {
  /** A-label form (IDNA ToASCII), as DNS, TLS and the metrics use it. */
  name: string;
  origin: DomainOrigin;
  /** The name as Prosody has it (nameprep'd; a U-label stays Unicode); the same as `name` for ASCII names. */
  prosodyName?: string;
  /**
   * The domain's main certificate: what c2s STARTTLS uses for a VirtualHost (or a configured domain),
   * what s2s STARTTLS uses for a Component (clients never connect to one). Undefined when none is found.
   */
  served?: HostCert;
  /** Per TLS service (see TLS_SERVICES); absent without a Prosody config lookup. */
  services?: ServiceLookup[];
  /** Why the lookup could not be trusted for this domain (e.g. an unreadable certificate directory hid files). */
  lookupError?: string;
}

export const SOURCE_NAMES = ['prosody_config', 'certs_dir', 'files'] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

export interface SourceState {
  name: SourceName;
  up: boolean;
  /** Why it is down, naming the file and what to do. */
  error?: string;
  /** For prosody_config when it is down: the host list kept from the last good read is in use. */
  stale?: boolean;
}

/**
 * What the exporter could find out about a private key Prosody would load beside a certificate.
 * `undefined` fields were not checked (the exporter may not read the key, or the user is unknown).
 */
export interface KeyFacts {
  exists: boolean;
  /** Prosody's user may read it (owner, group and mode along the path); undefined when that user is unknown here. */
  prosodyCanRead?: boolean;
  /** The key belongs to the certificate's public key; undefined when the exporter cannot read the key. */
  matches?: boolean;
  /** Why a check could not be made, or what failed (no secret in it). */
  note?: string;
}

export interface Inventory {
  scannedAt: number; // Unix seconds
  certsDir?: string;
  domains: DomainEntry[];
  /** Every certificate file read, by absolute path, in a stable order. */
  files: Map<string, FileResult>;
  /** The direct-TLS ports that listen, with the certificates their own context may load. */
  ports: PortEntry[];
  /** Facts about key files, by `${cert}\n${key}` (a key is checked against the certificate it is paired with). */
  keys: Map<string, KeyFacts>;
  sources: SourceState[];
}

/**
 * Why a domain is `error` although its certificate file was read: Prosody (LuaSec, OpenSSL at
 * Debian's security level 2) would refuse to load the pair, or the lookup could not be trusted.
 * A stable contract: metric labels and docs use these (beside cert/model.ts READ_ERROR_REASONS).
 */
export const LOAD_ERROR_REASONS = [
  'not_pem', // a DER file where LuaSec loads PEM only
  'key_too_small', // RSA/DSA under 2048 bits, EC under 224 bits, in the leaf or the chain
  'weak_signature', // a SHA-1 or MD5 signature on a certificate that is not self-signed
  'key_missing', // the key file Prosody would load does not exist (or no key is configured)
  'key_unreadable', // Prosody's user may not read the key file
  'key_mismatch', // the key does not belong to the certificate, or holds no usable key
  'lookup_unknown', // the certificate or key option is computed at run time
  'certs_dir_unreadable', // the certificate directory (or part of it) could not be listed
] as const;
export type LoadErrorReason = (typeof LOAD_ERROR_REASONS)[number];

export const keyFactsId = (cert: string, key: string): string => `${cert}\n${key}`;
