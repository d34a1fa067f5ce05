/**
 * The dns-01 responder for RFC 2136: adds `_acme-challenge.<name> TXT <value>` by DNS UPDATE signed
 * with TSIG, waits in ready() until every authoritative server of the zone answers each value
 * (dns-propagation.ts), and deletes exactly that value again in remove() (the issuer calls it after
 * a failure too). Several values for one name (a name and its wildcard) live side by side.
 *
 * Why the system's nsupdate (bind9-dnsutils) and not a library: TSIG signing is security code,
 * and the kept DNS message library (dns-packet) has no TSIG record type and computes no
 * signatures; nsupdate is BIND's own client, interoperates with BIND, Knot and PowerDNS, and reads the
 * secret from standard input here, never from argv. The secret is read from `tsig.secretFile` at
 * each update (a rotated key is picked up) and never logged.
 */
import fs from 'node:fs/promises';
import type { Rfc2136Config } from '../../config/renewal-schema';
import { RenewalError, messageOf } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import { describeFailure, runCommand, type CommandResult } from '../run-command';
import { challengeRecordName } from './dns-hook';
import { waitForTxt, type TxtRecord } from './dns-propagation';
import { addressOf, authoritativeServers, serverText, zoneOf, type DnsServer } from './dns-query';
import type { ChallengeResponder } from './responder';

const NSUPDATE_TIMEOUT_MS = 30_000;

export function createRfc2136Responder(config: Rfc2136Config, log: Logger): ChallengeResponder {
  const target: DnsServer = { host: config.server, port: config.port };
  const zones = new Map<string, Promise<string>>();
  const pending = new Map<string, TxtRecord>();
  const key = (name: string, value: string) => `${name} ${value}`;

  const zoneFor = (domain: string, name: string): Promise<string> => {
    if (config.zone) return Promise.resolve(config.zone);
    let zone = zones.get(name);
    if (!zone) {
      zone = findZone(name, target, domain);
      zones.set(name, zone);
      zone.catch(() => zones.delete(name)); // only successes are kept
    }
    return zone;
  };

  return {
    type: 'dns-01',
    async add(domain, _token, value) {
      const name = challengeRecordName(domain);
      const zone = await zoneFor(domain, name);
      // The servers first: a record is added only when it can also be checked (and is then removed by the issuer).
      const servers = await nameservers(config, zone, target, domain);
      await update(config, zone, `update add ${name}. ${config.ttl} IN TXT "${value}"`, domain, 'add', log);
      pending.set(key(name, value), { domain, name, value, servers });
    },
    async ready() {
      const records = [...pending.values()];
      if (records.length > 0) await waitForTxt(records, config.propagationTimeout * 1000, log);
    },
    async remove(domain, _token, value) {
      const name = challengeRecordName(domain);
      pending.delete(key(name, value));
      const zone = await zoneFor(domain, name);
      await update(config, zone, `update delete ${name}. IN TXT "${value}"`, domain, 'remove', log);
    },
    async close() {},
  };
}

async function findZone(name: string, target: DnsServer, domain: string): Promise<string> {
  try {
    const zone = await zoneOf(name, await addressOf(target));
    if (zone) return zone;
  } catch (err) {
    throw setupError(
      `cannot ask ${serverText(target)} for the zone of ${name} (${messageOf(err)}); check rfc2136.server and port, or set rfc2136.zone`,
      domain,
      err,
    );
  }
  throw setupError(`${serverText(target)} is authoritative for no zone holding ${name}; set rfc2136.zone or check rfc2136.server`, domain);
}

async function nameservers(config: Rfc2136Config, zone: string, target: DnsServer, domain: string): Promise<DnsServer[]> {
  if (config.nameservers) return Promise.all(config.nameservers.map((s) => addressOf(s)));
  try {
    return await authoritativeServers(zone, await addressOf(target), config.port);
  } catch (err) {
    throw setupError(`cannot find the authoritative servers of ${zone} (NS) at ${serverText(target)}: ${messageOf(err)}; set rfc2136.nameservers`, domain, err);
  }
}

/** One nsupdate run: server, zone, key (on stdin), the change, send. */
async function update(config: Rfc2136Config, zone: string, change: string, domain: string, action: 'add' | 'remove', log: Logger): Promise<void> {
  const secret = await readSecret(config.tsig.secretFile, domain);
  const script = [
    `server ${config.server} ${config.port}`,
    `zone ${zone}.`,
    `key ${config.tsig.algorithm}:${config.tsig.name} ${secret}`,
    change,
    'send',
    '',
  ].join('\n');
  const result = await runCommand(['nsupdate', '-t', '10'], { input: script, timeoutMs: NSUPDATE_TIMEOUT_MS });
  if (result.code === 0) {
    log.debug({ action, zone, domain }, 'dns-01 record updated by RFC 2136');
    return;
  }
  const where = `${serverText({ host: config.server, port: config.port })} (zone ${zone}, key ${config.tsig.name})`;
  throw setupError(
    `DNS UPDATE (${action} _acme-challenge TXT for ${domain}) at ${where} ${describeFailure(result, NSUPDATE_TIMEOUT_MS)}; ${hint(result)}`,
    domain,
  );
}

function hint(result: CommandResult): string {
  const text = `${result.stderr} ${result.stdout}`;
  if (result.startError?.code === 'ENOENT') return 'nsupdate is not installed: apt-get install bind9-dnsutils (or dnsutils)';
  if (/BADSIG|BADKEY|BADTIME|tsig verify failure|TSIG error/i.test(text))
    return 'the server refused the TSIG signature: check rfc2136.tsig (name, algorithm, secretFile) against the key the server has (and the clocks)';
  if (/REFUSED|NOTAUTH/.test(text)) return "the server refused the update: check its update-policy (or allow-update) for this key and the zone's name";
  if (/NOTZONE/.test(text)) return 'the record is not in that zone: check rfc2136.zone';
  if (/timed out|communication|connection refused/i.test(text)) return 'the server did not answer: check rfc2136.server and port';
  return 'run nsupdate by hand with the same server, zone and key to see why';
}

/** The base64 secret: the file's only content, or the `secret "..."` of a BIND key file. */
async function readSecret(file: string, domain: string): Promise<string> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw setupError(
      `cannot read rfc2136.tsig.secretFile ${file} (${(err as NodeJS.ErrnoException).code ?? messageOf(err)}); check the path and that this user may read it`,
      domain,
      err,
    );
  }
  const secret = /secret\s+"([^"]+)"/.exec(text)?.[1] ?? text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
    throw setupError(`rfc2136.tsig.secretFile ${file} holds neither a base64 secret nor a BIND key file (secret "...")`, domain);
  }
  return secret;
}

function setupError(message: string, domain: string, cause?: unknown): RenewalError {
  return new RenewalError(message, 'challenge_setup', domain, { challenge: 'dns-01' }, cause === undefined ? undefined : { cause });
}
