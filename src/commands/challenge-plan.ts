/**
 * For `xmpp-cert config check`: which challenge each name of each certificate group gets from each
 * ACME issuer (the single `challenge`, or the first `{match: ...}` rule that fits), one line per
 * name, and the problems that would make an order fail: a name no rule matches, a wildcard that
 * would get http-01. Pure: the caller scans and prints.
 */
import { challengeFor, type AcmeIssuerConfig, type SingleChallengeConfig } from '../config/renewal-schema';
import type { CertificateGroup } from '../renewal/types';

export interface ChallengePlan {
  lines: string[];
  problems: string[];
}

export function challengePlan(issuers: readonly { name: string; config: AcmeIssuerConfig }[], groups: readonly CertificateGroup[]): ChallengePlan {
  const plan: ChallengePlan = { lines: [], problems: [] };
  for (const issuer of issuers) {
    for (const group of groups) {
      for (const name of group.domains) {
        const chosen = challengeFor(issuer.config.challenge, name);
        plan.lines.push(`${name} (group ${group.name}, issuer ${issuer.name}): ${chosen ? describeChallenge(chosen) : 'no challenge'}`);
        if (!chosen) plan.problems.push(`${name}: no challenge entry of issuer ${issuer.name} matches it; add one (or a last entry with match: "*")`);
        else if (name.startsWith('*.') && chosen.type !== 'dns-01')
          plan.problems.push(`${name}: a wildcard needs dns-01, but issuer ${issuer.name} gives it ${chosen.type}`);
      }
    }
  }
  return plan;
}

export function describeChallenge(c: SingleChallengeConfig): string {
  if ('listen' in c) return `http-01, standalone on ${c.listen.host.includes(':') ? `[${c.listen.host}]` : c.listen.host}:${c.listen.port}`;
  if ('webroot' in c) return `http-01, webroot ${c.webroot}`;
  if ('hook' in c) return `dns-01, hook ${c.hook.join(' ')}`;
  return `dns-01, RFC 2136 update at ${c.rfc2136.server}:${c.rfc2136.port}${c.rfc2136.zone ? ` (zone ${c.rfc2136.zone})` : ''} with key ${c.rfc2136.tsig.name}`;
}
