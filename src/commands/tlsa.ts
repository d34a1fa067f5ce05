/**
 * `xmpp-cert tlsa DOMAIN`: the TLSA records to publish for the certificate group holding DOMAIN,
 * in zone-file form: `3 1 1` for the installed key and, with renewal.key.reuse, for the prepared
 * next key (publish both: a rotation then never breaks DANE), and `2 1 1` for the CA that signed
 * the installed certificate. Owner names are `_PORT._tcp.HOST.` (RFC 7673: HOST is the SRV
 * target, the domain itself without SRV records). Reads files only; exit 1 when nothing is installed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { certificateGroups, groupFor } from '../renewal/groups';
import { KeyStore } from '../renewal/key-store';
import { chainOf, spkiSha256, tlsaOf } from '../renewal/tlsa';
import { ConfigError } from '../shared/errors';
import { InventoryScanner } from '../sources/inventory';

export interface TlsaOptions {
  /** Owner host names; default the domain. */
  hosts: string[];
  ports: number[];
}

export async function tlsaCommand(config: Config, domain: string, options: TlsaOptions): Promise<string> {
  const inventory = await new InventoryScanner(config).scan();
  if (!inventory.certsDir) throw new ConfigError('no certificate directory: set prosody.certs');
  const group = groupFor(domain, certificateGroups(inventory.domains, config.renewal.certificates));
  const file = path.join(inventory.certsDir, group.name, 'fullchain.pem');
  const pem = await fs.promises.readFile(file, 'utf8').catch(() => '');
  const values = tlsaOf(pem);
  if (!values) throw new ConfigError(`${domain}: no installed certificate in ${file} (group ${group.name}); renew it first`);
  const [leaf] = chainOf(pem);
  const keys = new KeyStore(config.renewal.stateDir, config.renewal.key, () => Date.now() / 1000);
  const next = config.renewal.key.reuse ? await keys.next(group.name) : undefined;
  const owners = options.hosts.flatMap((host) => options.ports.map((port) => `_${port}._tcp.${host.replace(/\.$/, '')}.`));
  const records = (usage: string, value: string) => owners.map((owner) => `${owner} IN TLSA ${usage} ${value}`);
  const out = [`; ${domain}: certificate group ${group.name}, ${file} (serial ${leaf!.serialNumber}, valid until ${new Date(leaf!.validTo).toISOString()})`];
  out.push(
    `; current key${config.renewal.key.reuse ? ' (kept across renewals: renewal.key.reuse)' : ' (a new key at every renewal: set renewal.key.reuse for 3 1 1)'}`,
  );
  out.push(...records('3 1 1', values.endEntity));
  if (next && spkiSha256(next) !== values.endEntity) {
    out.push('; next key (prepared: publish it now; the next rotation switches to it)', ...records('3 1 1', spkiSha256(next)));
  }
  if (values.trustAnchor) out.push('; the CA that signed it (DANE-TA; changes when the CA changes its intermediate)', ...records('2 1 1', values.trustAnchor));
  return out.join('\n') + '\n';
}
