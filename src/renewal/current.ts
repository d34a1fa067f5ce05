/**
 * The group's current certificate as Prosody uses it: what the policy judges (due or not), what a
 * new order names in ARI's `replaces`, what key reuse certifies again, what the trust check and the
 * fallback rule compare with. It comes from the exporter's Prosody lookup (prosody-view.ts: every
 * layout, `ssl` tables, wildcards, certbot lineages, the worker's own `certs/<name>`), not from
 * one path: a valid certificate anywhere Prosody would use it counts.
 *
 * The files the lookup names are read again here, under the group's lock, so a pair another worker
 * installed meanwhile is seen; a file that has gone since the scan, or the worker's own pair
 * appearing since, throws StaleView (the caller scans again). Unreadable or garbage files are no certificate. The primary certificate is the one
 * of the group's main files (c2s STARTTLS, s2s for a Component, and any file an ambiguous index may
 * pick instead) that expires first: a group is judged by its weakest name, as the exporter judges
 * an ambiguous domain by the worse file.
 */
import type crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseCertificates, type Certificate } from '../cert';
import { CERT_FILE } from './install-layout';
import { covers, type InPlace } from './policy';
import { pairsOf, type ProsodyLookup, type ProsodyView } from './prosody-view';
import { verifyChain } from './trust';
import type { CertificateGroup } from './types';

export interface Candidate {
  /** The certificate file Prosody would load, and its key. */
  file: string;
  key: string;
  pem: string;
  /** Its first certificate, when readable. */
  leaf?: Certificate;
}

export interface CurrentPair {
  /** The primary certificate file's text ('' when there is none). */
  pem: string;
  keyPem?: string;
  leaf?: Certificate;
  /** Where the primary certificate lives (the worker's own path when Prosody has none). */
  file: string;
  /** Names of the group served by another file that is valid and covers them: the policy does not ask them of `leaf`. */
  coveredElsewhere: string[];
  /** Every certificate Prosody may use for a name of the group, on every service it listens on. */
  candidates: Candidate[];
  /** The worker's own pair (`certs/<name>/fullchain.pem`) when it is among them: what a pending reload must get served. */
  own?: Candidate;
}

/** A file the scan named has gone: the view is out of date. */
export class StaleView extends Error {}

/** currentPair on the worker's scan; when a file it named has gone (another worker took the group over), on a fresh scan. */
export async function readCurrent(lookup: ProsodyLookup, group: CertificateGroup, now: number, say: (text: string) => void): Promise<CurrentPair> {
  try {
    return await currentPair(lookup.view(), group, now);
  } catch (err) {
    if (!(err instanceof StaleView)) throw err;
    say(`${err.message}: scanning again`);
    return currentPair(await lookup.refresh(), group, now);
  }
}

/** Each readable candidate, and whether its chain verifies against `anchors` (trust.ts) now. */
export function inPlace(current: CurrentPair, anchors: readonly crypto.X509Certificate[], now: number): Array<InPlace & { file: string; detail: string }> {
  return current.candidates.flatMap((c) => {
    if (!c.leaf) return [];
    const trust = verifyChain(c.pem, anchors, now);
    return [{ leaf: c.leaf, trusted: trust.trusted, file: c.file, detail: trust.detail }];
  });
}

export async function currentPair(view: ProsodyView, group: CertificateGroup, now: number): Promise<CurrentPair> {
  const lookups = group.domains.map((d) => view.lookup(d));
  const files = new Map<string, Candidate | undefined>();
  const candidateOf = async (pair: { cert: string; key: string }): Promise<Candidate | undefined> => {
    if (!files.has(pair.cert)) files.set(pair.cert, await readCandidate(pair));
    return files.get(pair.cert);
  };
  const all = lookups.flatMap((l) => l.services.flatMap((s) => (s.cert ? pairsOf(s.cert) : [])));
  for (const pair of all) await candidateOf(pair);
  const mainOf = async (l: (typeof lookups)[number]) => (l.main ? await Promise.all(pairsOf(l.main).map(candidateOf)) : []);
  const mains = await Promise.all(lookups.map(mainOf));
  const primary = earliest(mains.flat());
  const coveredElsewhere = lookups
    .filter((l, i) => {
      const served = mains[i]!;
      return served.length > 0 && served.every((c) => c && c !== primary && validNow(c.leaf, now) && c.leaf && covers(c.leaf, l.domain));
    })
    .map((l) => l.domain);
  const candidates = [...files.values()].filter((c): c is Candidate => c !== undefined);
  const ownFile = path.join(view.certsDir, group.name, CERT_FILE);
  // The worker's own pair appeared since the scan (another worker's first install): judge that one.
  if (!view.facts.isFile(ownFile) && fs.existsSync(ownFile)) throw new StaleView(`${ownFile} appeared since the scan`);
  const own = candidates.find((c) => c.file === ownFile);
  const keyPem = primary ? await read(primary.key) : undefined;
  return {
    pem: primary?.pem ?? '',
    file: primary?.file ?? ownFile,
    ...(keyPem !== undefined ? { keyPem } : {}),
    ...(primary?.leaf ? { leaf: primary.leaf } : {}),
    coveredElsewhere,
    candidates,
    ...(own ? { own } : {}),
  };
}

async function readCandidate(pair: { cert: string; key: string }): Promise<Candidate | undefined> {
  const pem = await fs.promises.readFile(pair.cert, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new StaleView(`${pair.cert} has gone since the scan`);
    return undefined; // unreadable, a directory, a FIFO the scan refused: no certificate
  });
  if (pem === undefined) return undefined;
  const leaf = firstCertificate(pem);
  return { file: pair.cert, key: pair.key, pem, ...(leaf ? { leaf } : {}) };
}

/** The readable candidate that expires first (the weakest); undefined when none is readable. */
function earliest(candidates: Array<Candidate | undefined>): Candidate | undefined {
  let best: Candidate | undefined;
  for (const c of candidates) if (c?.leaf && (!best?.leaf || c.leaf.notAfter < best.leaf.notAfter)) best = c;
  return best ?? candidates.find((c) => c !== undefined);
}

const read = (file: string) => fs.promises.readFile(file, 'utf8').catch(() => undefined);

export const validNow = (leaf: Certificate | undefined, now: number): leaf is Certificate => leaf !== undefined && leaf.notBefore <= now && now < leaf.notAfter;

export function firstCertificate(pem: string): Certificate | undefined {
  const parsed = parseCertificates(Buffer.from(pem));
  return parsed.ok ? parsed.certificates[0] : undefined;
}
