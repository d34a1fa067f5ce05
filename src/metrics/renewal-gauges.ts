/**
 * The xmpp_cert_renewal_* and worker metrics, from the worker's state file read at scrape time
 * (cached by the reader until the file changes). `refresh()` reads, then resets and sets every
 * series in one synchronous step, so a scrape never sees half a state. Every failure reason of every
 * group starts at 0, so rate() and increase() work from the first failure on.
 * It never writes: a corrupt file is reported (read_success 0), not moved; the worker does that.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { FAILURE_REASONS } from '../state/failure-reasons';
import { readStateForScrape } from '../state/state';
import { HOLD_REASONS, SERVICE_HEARTBEAT_SECONDS, type GroupState, type WorkerState } from '../state/state-types';

export interface RenewalGauges {
  refresh(): void;
}

export function createRenewalGauges(registry: Registry, stateDir: () => string): RenewalGauges {
  const registers = [registry];
  const domain = ['domain'] as const;
  const attempts = new Counter({
    name: 'xmpp_cert_renewal_attempts_total',
    help: 'Renewal attempts per certificate group (domain = the group name); reason is "none" for successes.',
    labelNames: ['domain', 'result', 'reason'],
    registers,
  });
  /** A per-group gauge: labelled by domain, and more labels when given. */
  const gauge = (name: string, help: string, more: readonly string[] = []) => new Gauge({ name, help, labelNames: [...domain, ...more], registers });
  const lastAttempt = gauge('xmpp_cert_renewal_last_attempt_timestamp_seconds', 'When the worker last tried to renew the group.');
  const lastSuccess = gauge('xmpp_cert_renewal_last_success_timestamp_seconds', 'When the group was last renewed and installed.');
  const lastFailure = gauge('xmpp_cert_renewal_last_failure_timestamp_seconds', 'When a renewal attempt for the group last failed.');
  const nextAttempt = gauge('xmpp_cert_renewal_next_attempt_timestamp_seconds', 'Earliest next attempt after failures (backoff or a CA Retry-After).');
  const consecutive = gauge('xmpp_cert_renewal_consecutive_failures', 'Failed renewal runs in a row for the group (0 after a success).');
  const fallback = gauge('xmpp_cert_renewal_fallback_in_use', '1 while a self-signed fallback is installed because no CA could issue.');
  const verified = gauge(
    'xmpp_cert_renewal_verify_success',
    '1 when the endpoints served the newly installed certificate after the last install, 0 when not; absent when not verified.',
    ['result'],
  );
  const reloadPending = gauge(
    'xmpp_cert_renewal_reload_pending',
    '1 while a certificate the worker installed waits for a reload that failed (retried with backoff), else 0.',
  );
  const heldBack = gauge(
    'xmpp_cert_renewal_held_back',
    '1 for the reason a due group waits without a failure (spacing: a CA issued it too recently; order_cap: renewal.maxOrdersPerHour reached), 0 for the others.',
    ['reason'],
  );
  const info = gauge('xmpp_cert_renewal_info', 'The group: its names and the issuer of the certificate the worker installed; always 1.', ['names', 'issuer']);
  // Registered only while a heartbeat exists: prom-client reports a label-less gauge as 0 after
  // reset(), and a 0 heartbeat would page every setup that runs no worker ("last seen 1970").
  const heartbeatName = 'xmpp_cert_worker_heartbeat_timestamp_seconds';
  const heartbeat = new Gauge({ name: heartbeatName, help: 'Last heartbeat of the renewal worker (written every minute while it runs).', registers: [] });
  const heartbeatInterval = new Gauge({
    name: 'xmpp_cert_worker_heartbeat_interval_seconds',
    help: 'Seconds between heartbeats of the setup that wrote the last one: mode="service" (the worker, every minute) or mode="timer" (auto-renew, the timer period).',
    labelNames: ['mode'],
    registers,
  });
  const readOk = new Gauge({
    name: 'xmpp_cert_renewal_state_read_success',
    help: '1 when the worker state file was read (or does not exist yet), 0 when it is unreadable or corrupt.',
    registers,
  });
  const perGroup = [attempts, lastAttempt, lastSuccess, lastFailure, nextAttempt, consecutive, fallback, verified, reloadPending, heldBack, info];

  const fill = (name: string, g: GroupState) => {
    attempts.inc({ domain: name, result: 'success', reason: 'none' }, g.successes);
    for (const reason of FAILURE_REASONS) attempts.inc({ domain: name, result: 'failure', reason }, g.failures[reason] ?? 0);
    const times: Array<[Gauge, number | undefined]> = [
      [lastAttempt, g.lastAttempt],
      [lastSuccess, g.lastSuccess],
      [lastFailure, g.lastFailure],
      [nextAttempt, g.nextAttempt],
    ];
    for (const [gauge, value] of times) if (value !== undefined) gauge.set({ domain: name }, value);
    consecutive.set({ domain: name }, g.consecutiveFailures);
    fallback.set({ domain: name }, g.fallback ? 1 : 0);
    reloadPending.set({ domain: name }, g.reloadPending ? 1 : 0);
    for (const reason of HOLD_REASONS) heldBack.set({ domain: name, reason }, g.heldBack?.reason === reason ? 1 : 0);
    if (g.verify && g.verify.result !== 'skipped') verified.set({ domain: name, result: g.verify.result }, g.verify.result === 'served' ? 1 : 0);
    info.set({ domain: name, names: g.domains.join(','), issuer: g.issuer ?? '' }, 1);
  };

  const apply = (state: WorkerState | undefined, ok: boolean) => {
    for (const metric of [...perGroup, heartbeatInterval]) metric.reset();
    readOk.set(ok ? 1 : 0);
    const beat = state?.heartbeat;
    const shown = registry.getSingleMetric(heartbeatName) !== undefined;
    if (beat === undefined && shown) registry.removeSingleMetric(heartbeatName);
    if (beat !== undefined && !shown) registry.registerMetric(heartbeat);
    if (beat !== undefined) {
      heartbeat.set(beat);
      // A file from before the mode was recorded was written by the service.
      heartbeatInterval.set({ mode: state?.heartbeatMode ?? 'service' }, state?.heartbeatInterval ?? SERVICE_HEARTBEAT_SECONDS);
    }
    if (!state) return;
    for (const [name, g] of Object.entries(state.groups)) fill(name, g);
  };

  return {
    refresh() {
      const { state, error } = readStateForScrape(stateDir());
      apply(state, error === undefined);
    },
  };
}
