/**
 * An ACME issuer's directory URL and default name from its config: the aliases letsencrypt and
 * letsencrypt-staging, or a URL (named by its host). Light on purpose (no acme-client): the command
 * line uses it without loading the ACME stack.
 */
import { ConfigError } from '../../shared/errors';

export const DIRECTORY_ALIASES: Record<string, string> = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
};

/** The directory URL and the issuer's default name: the alias, else the directory's host. */
export function resolveDirectory(directory: string | undefined, testMode: boolean): { url: string; name: string } {
  const alias = directory ?? (testMode ? 'letsencrypt-staging' : 'letsencrypt');
  const aliased = DIRECTORY_ALIASES[alias];
  if (aliased) return { url: aliased, name: alias };
  try {
    const url = new URL(alias);
    if (url.protocol === 'https:' || url.protocol === 'http:') return { url: alias, name: url.host };
  } catch {
    // reported below
  }
  throw new ConfigError(`renewal.issuers[].directory: expected an https:// (or http://) URL, letsencrypt or letsencrypt-staging, got ${JSON.stringify(alias)}`);
}
