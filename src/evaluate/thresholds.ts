/**
 * Thresholds as seconds of remaining lifetime for one certificate: fixed durations, a share of the
 * lifetime, or `auto` (renewal: one third of the lifetime left, one half when the lifetime is
 * 10 days or less, as certbot, lego and Caddy do). Per-domain overrides replace the defaults key by
 * key. A renewal threshold at or above the lifetime (a fixed 30 days for a 7-day certificate) would
 * put the renewal point before the certificate's issuance and renew it again at once, forever: it is
 * capped at half the lifetime, here, so the worker and the exported threshold agree. Pure.
 */
import type { Config, Threshold } from '../config';

export const LEVELS = ['warning', 'critical', 'renewal'] as const;
export type Level = (typeof LEVELS)[number];
export type ThresholdSeconds = Record<Level, number>;

const TEN_DAYS = 10 * 86400;

export function thresholdSeconds(threshold: Threshold, lifetimeSeconds: number): number {
  switch (threshold.kind) {
    case 'seconds':
      return threshold.seconds;
    case 'percent':
      return Math.round((lifetimeSeconds * threshold.percent) / 100);
    case 'auto':
      return Math.round(lifetimeSeconds <= TEN_DAYS ? lifetimeSeconds / 2 : lifetimeSeconds / 3);
  }
}

/** The renewal threshold in seconds, capped at half the lifetime when it reaches the whole lifetime. */
export function renewalSeconds(threshold: Threshold, lifetimeSeconds: number): { seconds: number; capped: boolean } {
  const seconds = thresholdSeconds(threshold, lifetimeSeconds);
  if (lifetimeSeconds > 0 && seconds >= lifetimeSeconds) return { seconds: Math.round(lifetimeSeconds / 2), capped: true };
  return { seconds, capped: false };
}

/** The configured defaults, without any domain's overrides. */
export function defaultThresholds(thresholds: Config['thresholds']): Record<Level, Threshold> {
  return { warning: thresholds.warning, critical: thresholds.critical, renewal: thresholds.renewal };
}

export function thresholdsFor(domain: string, thresholds: Config['thresholds']): Record<Level, Threshold> {
  const override = thresholds.overrides[domain] ?? {};
  return {
    warning: override.warning ?? thresholds.warning,
    critical: override.critical ?? thresholds.critical,
    renewal: override.renewal ?? thresholds.renewal,
  };
}

/** Seconds per level for a certificate of the given lifetime. */
export function resolveThresholds(set: Record<Level, Threshold>, lifetimeSeconds: number): ThresholdSeconds {
  return {
    warning: thresholdSeconds(set.warning, lifetimeSeconds),
    critical: thresholdSeconds(set.critical, lifetimeSeconds),
    renewal: renewalSeconds(set.renewal, lifetimeSeconds).seconds,
  };
}
