/**
 * Waits until every given authoritative server answers every given TXT record (the dns-01 values
 * just added), polling with a growing pause, up to a timeout. A server that does not answer or
 * answers without the value is asked again. On timeout it names each record and the servers that
 * still lack it. It does not find the servers (dns-query.ts) nor add records.
 */
import { RenewalError, messageOf } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import { answersTxt, serverText, type DnsServer } from './dns-query';

export interface TxtRecord {
  /** The authorization's name (for errors), e.g. conference.example.org or example.org. */
  domain: string;
  /** `_acme-challenge.<domain>` */
  name: string;
  value: string;
  servers: DnsServer[];
}

const FIRST_PAUSE_MS = 250;
const MAX_PAUSE_MS = 2000;

export async function waitForTxt(records: readonly TxtRecord[], timeoutMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let missing = await stillMissing(records);
  for (let pause = FIRST_PAUSE_MS; missing.length > 0; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
    if (Date.now() + pause > deadline) throw timedOut(missing, timeoutMs);
    log.debug({ missing: missing.map((m) => `${m.record.name} at ${m.servers.map(serverText).join(', ')}`) }, 'waiting for the dns-01 TXT records');
    await new Promise((resolve) => setTimeout(resolve, pause));
    missing = await stillMissing(missing.map((m) => ({ ...m.record, servers: m.servers })));
  }
}

interface Missing {
  record: TxtRecord;
  servers: DnsServer[];
  errors: string[];
}

async function stillMissing(records: readonly TxtRecord[]): Promise<Missing[]> {
  const checked = await Promise.all(
    records.map(async (record) => {
      const results = await Promise.all(
        record.servers.map((server) =>
          answersTxt(server, record.name, record.value).then(
            (ok) => ({ server, ok, error: undefined as string | undefined }),
            (err: unknown) => ({ server, ok: false, error: `${serverText(server)}: ${messageOf(err)}` }),
          ),
        ),
      );
      const lacking = results.filter((r) => !r.ok);
      return { record, servers: lacking.map((r) => r.server), errors: lacking.flatMap((r) => (r.error ? [r.error] : [])) };
    }),
  );
  return checked.filter((m) => m.servers.length > 0);
}

function timedOut(missing: Missing[], timeoutMs: number): RenewalError {
  const list = missing.map((m) => `${m.record.name} at ${m.servers.map(serverText).join(', ')}${m.errors.length ? ` (${m.errors.join('; ')})` : ''}`);
  const first = missing[0]!.record.domain;
  return new RenewalError(
    `the dns-01 TXT record was not answered by every authoritative server within ${timeoutMs / 1000} s: ${list.join('; ')}; check that the zone's secondaries get the update (NOTIFY, IXFR) or raise rfc2136.propagationTimeout`,
    'challenge_setup',
    first,
    { challenge: 'dns-01' },
  );
}
