/**
 * Checks of a valid config that the schema cannot make key by key: thresholds that cannot work
 * (a warning at or below the critical one would never be reported: critical is judged first) and
 * per-domain overrides that name no watched domain (a typo there silently does nothing). Pure:
 * the caller passes the watched domains (prosody.cfg.lua's hosts need discovery, not config).
 */
import { distance } from 'fastest-levenshtein';
import type { Config } from './schema';
import { formatThreshold, type Threshold } from './units';

/** Comparable only in the same unit: 14d vs 20% depends on each certificate's lifetime. */
function atOrBelow(warning: Threshold, critical: Threshold): boolean {
  if (warning.kind === 'seconds' && critical.kind === 'seconds') return warning.seconds <= critical.seconds;
  if (warning.kind === 'percent' && critical.kind === 'percent') return warning.percent <= critical.percent;
  return false;
}

/** One line per threshold pair that cannot work, naming the keys and what to do. */
export function thresholdProblems(config: Pick<Config, 'thresholds'>): string[] {
  const { warning, critical, overrides } = config.thresholds;
  const problems: string[] = [];
  const say = (where: string, w: Threshold, c: Threshold) =>
    `${where}: warning ${formatThreshold(w)} is at or below critical ${formatThreshold(c)}, so WARNING could never be reported; make warning larger than critical`;
  if (atOrBelow(warning, critical)) problems.push(say('thresholds', warning, critical));
  for (const [domain, set] of Object.entries(overrides)) {
    if (!set.warning && !set.critical) continue;
    const w = set.warning ?? warning;
    const c = set.critical ?? critical;
    if (atOrBelow(w, c)) problems.push(say(`thresholds.overrides.${domain}`, w, c));
  }
  return problems;
}

/** The watched domain nearest to `name`, when it is close enough to be a typo. */
export function nearest(name: string, candidates: Iterable<string>): string | undefined {
  let best: { candidate: string; d: number } | undefined;
  for (const candidate of candidates) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (!best || d < best.d) best = { candidate, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 4)) ? best.candidate : undefined;
}

/** One warning per override key that names no watched domain, with the nearest watched one. */
export function overrideWarnings(config: Pick<Config, 'thresholds'>, watched: readonly string[]): string[] {
  return Object.keys(config.thresholds.overrides)
    .filter((name) => !watched.includes(name))
    .map((name) => {
      const hint = nearest(name, watched);
      return `thresholds.overrides.${name}: names no watched domain, so it applies to nothing${hint ? ` (did you mean ${hint}?)` : ''}`;
    });
}
