/**
 * Builds the configured issuers, in `renewal.issuers` order. The ACME one is loaded only when
 * configured (acme-client and axios are not needed by a self-signed-only setup).
 */
import type { RenewalConfig } from '../../config/renewal-schema';
import type { Logger } from '../../shared/log';
import type { Issuer } from '../types';
import { createSelfSignedIssuer } from './selfsigned';

export function createIssuers(renewal: RenewalConfig, log: Logger): Issuer[] {
  return renewal.issuers.map((config) => {
    if (config.type === 'selfsigned') return createSelfSignedIssuer(config);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createAcmeIssuer } = require('./acme') as typeof import('./acme');
    return createAcmeIssuer(config, renewal, log);
  });
}

export async function closeIssuers(issuers: readonly Issuer[]): Promise<void> {
  await Promise.all(issuers.map((i) => i.close?.() ?? Promise.resolve()));
}
