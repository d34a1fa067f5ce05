/**
 * For `xmpp-cert config check`: renewal settings that are valid but will not do what the operator
 * wants, when the check can tell. No issuer (nothing is renewed); a renewal threshold at or above
 * the lifetime of a certificate Prosody uses now, or of the self-signed issuer's certificates (the
 * worker caps it at half the lifetime, evaluate/thresholds.ts). Warnings only: the exit code stays
 * 0. Pure: the caller scans and prints.
 */
import type { Config } from '../config';
import { NO_ISSUER } from '../config/renewal-schema';
import { renewalSeconds, thresholdSeconds, thresholdsFor } from '../evaluate/thresholds';
import type { Inventory } from '../model/inventory';

export function renewalWarnings(config: Config, inventory: Inventory | undefined): string[] {
  const { renewal } = config;
  if (renewal.issuers.length === 0) return [`warning: ${NO_ISSUER}`];
  const warnings: string[] = [];
  const capped = (domain: string, lifetime: number, what: string) => {
    const threshold = thresholdsFor(domain, config.thresholds).renewal;
    if (!renewalSeconds(threshold, lifetime).capped) return;
    warnings.push(
      `warning: thresholds.renewal for ${domain} (${human(thresholdSeconds(threshold, lifetime))} before expiry) is at or above the lifetime of ${what} (${human(lifetime)}): the worker renews at half the lifetime instead; lower it (auto, or a percentage such as 33%)`,
    );
  };
  for (const entry of inventory?.domains ?? []) {
    const file = entry.served ? inventory!.files.get(entry.served.cert) : undefined;
    const leaf = file?.ok ? file.certificates[0] : undefined;
    if (leaf) capped(entry.name, leaf.notAfter - leaf.notBefore, `its certificate ${entry.served!.cert}`);
  }
  for (const issuer of renewal.issuers) if (issuer.type === 'selfsigned') capped('the self-signed fallback', issuer.lifetime, 'its certificates');
  return warnings;
}

function human(seconds: number): string {
  if (seconds >= 2 * 86400) return `${Math.round((seconds / 86400) * 10) / 10}d`;
  if (seconds >= 2 * 3600) return `${Math.round((seconds / 3600) * 10) / 10}h`;
  return `${Math.round(seconds)}s`;
}
