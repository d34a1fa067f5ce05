/**
 * Backoff arithmetic shared by the renewal worker (the next attempt after failed runs, written to
 * state.json) and the notifier (the next delivery try of a channel). Pure.
 */

/** Capped exponential backoff after `consecutiveFailures` failed runs (1 -> initial). */
export function backoffSeconds(consecutiveFailures: number, initial: number, max: number): number {
  if (consecutiveFailures <= 0) return 0;
  return Math.min(max, initial * 2 ** Math.min(consecutiveFailures - 1, 30));
}
