/**
 * The worker's state file (`<stateDir>/state.json`): the contract between the worker, which
 * writes it, and the exporter, which reads it at scrape time for the xmpp_cert_renewal_* metrics.
 * Times are Unix seconds. Plain types; state.ts reads and writes it.
 */
import type { FailureReason } from './failure-reasons';

export const STATE_VERSION = 1;

export type VerifyResult = 'served' | 'mismatch' | 'unreachable' | 'skipped';

/** Why a due group waits without a failure: a CA issuance of it too recent, or its ACME account's hourly order cap reached. */
export const HOLD_REASONS = ['spacing', 'order_cap'] as const;
export type HoldReason = (typeof HOLD_REASONS)[number];

export interface GroupState {
  domains: string[];
  /** Issuer name of the certificate in place, when the worker installed it. */
  issuer?: string;
  /** A self-signed certificate is in place because no CA could issue. */
  fallback: boolean;
  successes: number;
  failures: Partial<Record<FailureReason, number>>;
  consecutiveFailures: number;
  lastAttempt?: number;
  lastSuccess?: number;
  lastFailure?: number;
  lastReason?: FailureReason;
  /** Message of the last failure: names the domain and what to do; never a secret. */
  lastError?: string;
  /** For validation failures: which name and challenge type failed. */
  lastFailureDomain?: string;
  lastFailureChallenge?: string;
  /** Not before this time (a CA's Retry-After or our backoff). */
  nextAttempt?: number;
  /** The installed certificate. */
  serial?: string;
  notAfter?: number;
  /** When a CA last issued a certificate that was installed, and for which names (the spacing rule). */
  lastIssued?: number;
  issuedDomains?: string[];
  /** The certificate in place came from a staging issuer (untrusted test certificates). */
  staging?: boolean;
  /** The verification after the last install; absent while none ran since (reload pending, not verified). */
  verify?: { result: VerifyResult; at: number; detail?: string };
  /** Installed, but the reload failed: retried with backoff at each check until it succeeds. */
  reloadPending?: { since: number; attempts: number; nextAttempt: number; error: string };
  /** Due, but held back (no failure): until when and why. */
  heldBack?: { reason: HoldReason; until: number };
}

/** Who writes the heartbeat: the worker service (`worker`, `run`) or a timer's one-shot `auto-renew`. */
export const HEARTBEAT_MODES = ['service', 'timer'] as const;
export type HeartbeatMode = (typeof HEARTBEAT_MODES)[number];

/** The worker service writes a heartbeat this often (seconds). */
export const SERVICE_HEARTBEAT_SECONDS = 60;

export interface WorkerState {
  version: typeof STATE_VERSION;
  /** Updated by the worker on every check and at least every minute while it runs; by `auto-renew` once per run. */
  heartbeat?: number;
  /** Which setup wrote the last heartbeat; absent in files from before it was recorded (a service). */
  heartbeatMode?: HeartbeatMode;
  /** Seconds until the writer's next heartbeat: 60 for the service, the timer's period for `auto-renew`. */
  heartbeatInterval?: number;
  groups: Record<string, GroupState>;
  /** Per ACME account (its directory URL): when orders were started in the last hour (renewal.maxOrdersPerHour). */
  orders?: Record<string, number[]>;
}

export const emptyState = (): WorkerState => ({ version: STATE_VERSION, groups: {} });
export const emptyGroupState = (domains: string[]): GroupState => ({ domains, fallback: false, successes: 0, failures: {}, consecutiveFailures: 0 });
