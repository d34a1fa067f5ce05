/**
 * `xmpp-cert account [show|rollover|deactivate]`: the ACME account of one issuer (`--issuer NAME`,
 * default the first ACME issuer). show reads it from the CA without registering one; rollover
 * replaces the account key (RFC 8555 7.3.5); deactivate ends the account at the CA (7.3.6, needs
 * `--yes`: it cannot be undone) and moves its key aside so the next order registers a new one.
 * Prints plain `key: value` lines; never a key.
 */
import type { Config } from '../config';
import type { AcmeIssuerConfig } from '../config/renewal-schema';
import { createAcmeAccount } from '../renewal/issuers/acme';
import type { AccountInfo, AcmeAccount } from '../renewal/issuers/acme-account';
import { classifyFailure } from '../renewal/failure';
import { ConfigError } from '../shared/errors';
import type { Logger } from '../shared/log';

export type AccountAction = 'show' | 'rollover' | 'deactivate';

export async function accountCommand(config: Config, action: AccountAction, options: { issuer?: string; yes?: boolean }, log: Logger): Promise<string> {
  const account = pickAccount(config, options.issuer);
  try {
    if (action === 'show') return describe(account.issuerName, await account.show(log));
    if (action === 'rollover') return `account key rolled over\n${describe(account.issuerName, await account.rollover(log))}`;
    if (!options.yes) throw new ConfigError(`deactivating the account of ${account.issuerName} cannot be undone: run again with --yes`);
    const { url, keptAs } = await account.deactivate(log);
    return `issuer: ${account.issuerName}\naccount: ${url}\nstatus: deactivated\nold key kept as: ${keptAs} (the next order registers a new account)\n`;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw classifyFailure(err, account.issuerName);
  } finally {
    account.close();
  }
}

function pickAccount(config: Config, name: string | undefined): AcmeAccount {
  const accounts = config.renewal.issuers.filter((i): i is AcmeIssuerConfig => i.type === 'acme').map((issuer) => createAcmeAccount(issuer, config.renewal));
  const account = name ? accounts.find((a) => a.issuerName === name) : accounts[0];
  if (account) return account;
  const names = accounts.map((a) => a.issuerName).join(', ');
  throw new ConfigError(name ? `no ACME issuer named "${name}" (ACME issuers: ${names || 'none'})` : 'no ACME issuer in renewal.issuers');
}

function describe(issuer: string, info: AccountInfo): string {
  const lines = [`issuer: ${issuer}`, `directory: ${info.directory}`];
  if (!info.url) return [...lines, `account: none yet (no key at ${info.keyFile}; the first order registers one)`, ''].join('\n');
  lines.push(`account: ${info.url}`, `status: ${info.status ?? 'unknown'}`);
  if (info.contact?.length) lines.push(`contact: ${info.contact.join(', ')}`);
  lines.push(`key: ${info.keyFile} (thumbprint ${info.thumbprint})`);
  return lines.join('\n') + '\n';
}
