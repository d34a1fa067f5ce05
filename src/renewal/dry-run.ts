/**
 * `renew --dry-run`: the whole order a renewal would place, against the issuer's staging directory
 * (`letsencrypt` -> `letsencrypt-staging`) or, for any other CA, the configured one, and nothing
 * else: no install, no reload, no state file, no key store (the issuer makes a fresh key). The
 * pre/post hooks run, as certbot's do in a dry run, because the challenge may need them. It says
 * what would be installed: the names, the issuer, the validity and lifetime, and whether the chain
 * verifies, and which files of another layout a renewal would move aside; a renewal that would
 * stop before ordering (takeover.ts) stops the dry run the same way. What it does write: the ACME account key of a directory used for the first time
 * (`renewal.stateDir/accounts/`), as any order does.
 */
import type { Config } from '../config';
import type { RenewalConfig } from '../config/renewal-schema';
import type { Logger } from '../shared/log';
import { messageOf, RenewalError } from '../shared/errors';
import { firstCertificate } from './current';
import { RunHooks } from './hooks';
import { resolveDirectory } from './issuers/directory';
import { chooseIssuers } from './renew';
import type { TakeoverPlan } from './takeover';
import { trustAnchors, verifyChain } from './trust';
import type { CertificateGroup, Issuer } from './types';

export interface DryRunDeps {
  config: Config;
  log: Logger;
  step: (group: CertificateGroup, text: string) => void;
  signal?: AbortSignal;
  lineage: string;
  /** Where a renewal would install (takeover.ts), or why it would stop before ordering. */
  takeover?: TakeoverPlan | RenewalError;
}

export interface DryRunOutcome {
  ok: boolean;
  issuer?: string;
}

/** The issuers a dry run orders from: Let's Encrypt production becomes its staging directory. */
export function dryRunRenewal(renewal: RenewalConfig): RenewalConfig {
  const issuers = renewal.issuers.map((issuer) => {
    if (issuer.type !== 'acme' || resolveDirectory(issuer.directory, renewal.testMode).name !== 'letsencrypt') return issuer;
    return { ...issuer, directory: 'letsencrypt-staging' };
  });
  return { ...renewal, issuers };
}

export async function dryRun(group: CertificateGroup, issuers: readonly Issuer[], only: string | undefined, deps: DryRunDeps): Promise<DryRunOutcome> {
  const say = (text: string) => deps.step(group, `dry run: ${text}`);
  if (deps.takeover instanceof RenewalError) {
    say(`a renewal would stop before ordering: ${deps.takeover.message}`);
    return { ok: false };
  }
  if (deps.takeover && deps.takeover.entries.length > 0) {
    say(`a renewal would install at ${deps.lineage} and move what Prosody uses now into the archive: ${deps.takeover.entries.join(', ')}`);
  }
  const chosen = chooseIssuers(issuers, only).primary;
  if (chosen.length === 0) {
    say('no issuer configured (renewal.issuers): nothing to try');
    return { ok: false };
  }
  const hooks = new RunHooks(deps.config.renewal.hooks, deps.log, deps.step);
  const outcome = await hooks.around(
    group,
    deps.lineage,
    async () => {
      for (const issuer of chosen) {
        if (deps.signal?.aborted) break;
        if (await tryOne(group, issuer, deps, say)) return { result: 'dry_run', ok: true, issuer: issuer.name };
      }
      return { result: 'failed', ok: false, error: { reason: 'dry_run' } };
    },
    () => Promise.resolve({ result: 'failed', ok: false, error: { reason: 'hook' } }),
  );
  say(`nothing was installed, reloaded or recorded${outcome.ok ? '' : '; no issuer could issue'}`);
  return { ok: outcome.ok, ...(outcome.ok && 'issuer' in outcome ? { issuer: outcome.issuer } : {}) };
}

async function tryOne(group: CertificateGroup, issuer: Issuer, deps: DryRunDeps, say: (text: string) => void): Promise<boolean> {
  say(`ordering from ${issuer.name}${issuer.account ? ` (${issuer.account})` : ''} for ${group.domains.join(', ')}`);
  try {
    const pair = await issuer.issue(group, { log: deps.log, ...(deps.signal ? { signal: deps.signal } : {}) });
    const leaf = firstCertificate(pair.certificatePem);
    const now = Date.now() / 1000;
    const trust = verifyChain(pair.certificatePem, trustAnchors(deps.config.probes.ca, deps.log), now);
    const names = leaf ? [...new Set([...leaf.dnsNames, ...(leaf.commonName && leaf.dnsNames.length === 0 ? [leaf.commonName] : [])])].join(', ') : '?';
    say(`would install a certificate for ${names}`);
    if (leaf) {
      const lifetime = leaf.notAfter - leaf.notBefore;
      say(`issuer: ${leaf.issuer}; valid ${iso(leaf.notBefore)} to ${iso(leaf.notAfter)} (lifetime ${days(lifetime)})`);
    }
    say(
      trust.trusted
        ? `the chain verifies (${trust.detail})`
        : `the chain does not verify: ${trust.detail}${issuer.staging ? ' (expected from a staging CA)' : ''}`,
    );
    return true;
  } catch (err) {
    say(`${issuer.name} failed: ${messageOf(err)}`);
    return false;
  }
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

function days(seconds: number): string {
  if (seconds >= 2 * 86400) return `${Math.round((seconds / 86400) * 10) / 10} days`;
  if (seconds >= 2 * 3600) return `${Math.round((seconds / 3600) * 10) / 10} hours`;
  return `${Math.round(seconds)} seconds`;
}
