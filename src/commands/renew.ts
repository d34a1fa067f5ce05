/**
 * Output of the renewal verbs (`renew`, `auto-renew`): each step as a line while it happens, a
 * summary at the end, and the exit code (1 when any group failed or fell back to self-signed).
 */
import type { RenewOutcome } from '../renewal/renew';
import type { CertificateGroup } from '../renewal/types';

export const printStep = (group: CertificateGroup, text: string): void => {
  process.stdout.write(`${group.name}: ${text}\n`);
};

export function renewSummary(outcomes: readonly RenewOutcome[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o.result, (counts.get(o.result) ?? 0) + 1);
  const parts = [...counts].map(([result, n]) => `${n} ${result.replace('_', ' ')}`);
  return `${outcomes.length} certificate group${outcomes.length === 1 ? '' : 's'}: ${parts.join(', ') || 'nothing to do'}\n`;
}

export const renewExitCode = (outcomes: readonly RenewOutcome[]): number => (outcomes.some((o) => o.result === 'failed' || o.result === 'fallback') ? 1 : 0);
