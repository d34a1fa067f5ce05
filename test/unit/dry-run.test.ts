/**
 * `renew --dry-run` orders from Let's Encrypt's staging directory where a renewal would use its
 * production one, and from any other CA as configured. The whole dry run against a real Pebble is
 * in test/integration/renewal-trust.test.ts.
 */
import { loadConfig } from '../../src/config';
import { dryRunRenewal } from '../../src/renewal/dry-run';
import { resolveDirectory } from '../../src/renewal/issuers/directory';

test('letsencrypt becomes letsencrypt-staging; staging, other CAs and self-signed stay as configured', () => {
  const { renewal } = loadConfig({ env: {} }).config;
  const configured = {
    ...renewal,
    issuers: [
      { type: 'acme' as const, keyType: 'ecdsa-p256' as const, ca: [], challenge: { type: 'http-01' as const, listen: { host: '', port: 80 } } },
      {
        type: 'acme' as const,
        directory: 'https://ca.example.org/acme/directory',
        keyType: 'ecdsa-p256' as const,
        ca: [],
        challenge: { type: 'http-01' as const, listen: { host: '', port: 80 } },
      },
      {
        type: 'acme' as const,
        directory: 'letsencrypt-staging',
        keyType: 'ecdsa-p256' as const,
        ca: [],
        challenge: { type: 'http-01' as const, listen: { host: '', port: 80 } },
      },
      { type: 'selfsigned' as const, lifetime: 86400, keyType: 'ecdsa-p256' as const },
    ],
  };
  const names = dryRunRenewal(configured).issuers.map((i) => (i.type === 'acme' ? resolveDirectory(i.directory, false).name : i.type));
  expect(names).toEqual(['letsencrypt-staging', 'ca.example.org', 'letsencrypt-staging', 'selfsigned']);
});
