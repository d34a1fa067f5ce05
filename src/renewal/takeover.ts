/**
 * Planning a takeover: before the worker installs a group's pair at `certs/<name>/fullchain.pem`
 * (which Prosody's index carries under every name inside it), which files must leave so that
 * Prosody afterwards finds that pair, and only it, for every name of the group on every service it
 * listens on; or why the worker must not install at all. Pure: a function of the scan's lookup
 * facts (prosody-view.ts); install-supersede.ts moves the files.
 *
 * - Files that make the choice ambiguous: every file Prosody indexes (or will index once valid)
 *   carrying a name of the group (certmanager index_certs; find_cert_in_index takes any of them),
 *   with its key (find_matching_key). A file under a certbot tree (`live/X/`, `archive/X/`) takes
 *   its whole lineage, both directories.
 * - The superseded pair: what find_cert found by file name for a name of the group inside the
 *   certificate directory (`HOST.crt` + `.key`, `HOST.pem`, `HOST/fullchain.pem`); once the index
 *   has the worker's file Prosody never looks there again, so it is moved too, as a backup. Files
 *   outside the certificate directory are never moved (Prosody no longer uses them).
 * - Refused, with the config line to change: an `ssl`-style table that names another certificate
 *   or key for a name of the group (create_context puts it above the automatic lookup; a table
 *   naming exactly the worker's two paths is fine), a path computed at run time, or a file to move
 *   that also serves a name outside the group (its certificate would change).
 * The plan is checked by running the lookup again on the facts as they will be (the files gone,
 * the new file indexed under its names): every name of the group must get the worker's pair alone.
 */
import path from 'node:path';
import { identitiesOf, matchingKey, serviceLookups, type Identity, type IndexedFile, type LookupFacts } from '../discovery';
import type { ServiceLookup } from '../model/inventory';
import { RenewalError } from '../shared/errors';
import { CERT_FILE, KEY_FILE } from './install-layout';
import { covers } from './policy';
import { pairsOf, prosodyNameOf, type NameLookup, type ProsodyView } from './prosody-view';
import type { CertificateGroup } from './types';

export interface TakeoverPlan {
  /** Paths relative to the certificate directory, moved into the archive by the install. */
  entries: string[];
  /** Files Prosody used for the group outside the certificate directory: left alone, no longer used. */
  leftAlone: string[];
}

/** What the worker's pair will be: its two paths and the names Prosody will index it under. */
export interface NewPair {
  cert: string;
  key: string;
  identities: readonly Identity[];
}

/** planTakeover for the worker's own pair at `certs/<name>`, the refusal returned rather than thrown. */
export function tryPlanTakeover(view: ProsodyView, group: CertificateGroup, identities: readonly Identity[], then: string): TakeoverPlan | RenewalError {
  try {
    return planTakeover(view, group, ownPair(view.certsDir, group, identities), then);
  } catch (err) {
    if (err instanceof RenewalError) return err;
    throw err;
  }
}

/** The names Prosody will index the group's new certificate under (its SANs and CN are the group's names, as the issuers make them). */
export function identitiesFor(group: CertificateGroup): Identity[] {
  return identitiesOf({ dnsNames: group.domains, commonName: group.domains[0], xmppAddrs: [], srvNames: [] });
}

function ownPair(certsDir: string, group: CertificateGroup, identities: readonly Identity[]): NewPair {
  const dir = path.join(certsDir, group.name);
  return { cert: path.join(dir, CERT_FILE), key: path.join(dir, KEY_FILE), identities };
}

/**
 * The plan, or a RenewalError (reason `config`) saying which line or file stands in the way;
 * `then` ends its message (what happened instead: nothing was ordered, or nothing installed).
 */
function planTakeover(view: ProsodyView, group: CertificateGroup, pair: NewPair, then: string): TakeoverPlan {
  const refuse = (text: string) => new RenewalError(`${group.name}: ${text}. ${then}`, 'config', group.name);
  const lookups = group.domains.map((d) => view.lookup(d));
  for (const l of lookups) for (const s of l.services) checkOptions(l, s, pair, refuse);

  const certsDir = view.certsDir;
  const names = new Set(lookups.map((l) => l.prosodyName));
  const files = new Set<string>();
  for (const name of names) for (const file of view.filesCarrying(name)) files.add(file).add(matchingKey(file));
  for (const l of lookups)
    for (const s of l.services) if (s.cert && !s.cert.setBy && s.cert.via !== 'index' && names.has(s.cert.matchedName)) files.add(s.cert.cert).add(s.cert.key);
  const own = path.dirname(pair.cert);
  const inside = [...files].filter((f) => isInside(certsDir, f) && !isInside(own, f) && f !== own && !relativeTo(certsDir, f).startsWith('.'));
  const leftAlone = [...files].filter((f) => !isInside(certsDir, f));
  const entries = entriesOf(certsDir, inside);
  if (entries.length === 0) return { entries, leftAlone };

  const after = factsAfter(
    view.facts,
    entries.map((e) => path.join(certsDir, e)),
    pair,
  );
  for (const l of lookups) for (const s of serviceLookups(l.prosodyName, after, view.servicesOf(l.domain))) checkOurs(l, s, pair, refuse);
  checkOthers(view, group, entries, after, refuse);
  return { entries, leftAlone };
}

/** An `ssl`-style table (or a computed value) for a name of the group must name the worker's own two paths. */
function checkOptions(l: NameLookup, s: ServiceLookup, pair: NewPair, refuse: (text: string) => RenewalError): void {
  const where = `${l.domain} (${s.service})`;
  const fix = `certificate = "${pair.cert}" and key = "${pair.key}"`;
  if (s.unknown)
    throw refuse(
      `for ${where}, ${s.unknown}, so neither can the worker tell that it would use ${pair.cert}. Write ${fix} there as plain strings, or remove the option`,
    );
  const c = s.cert;
  if (!c || (!c.setBy && !c.keySetBy)) return;
  if (c.setBy && c.cert !== pair.cert) {
    throw refuse(
      `Prosody takes the certificate for ${where} from ${c.setBy}${at(c.setAt)} (${c.cert}), not from the file the worker installs. ` +
        `Copy that pair to ${pair.cert} and ${pair.key}, then change it to ${fix}, ` +
        `or remove certificate and key from that table so Prosody finds the worker's pair by itself; reload Prosody and renew again`,
    );
  }
  if (c.key !== pair.key) {
    throw refuse(
      `Prosody takes the key for ${where} from ${c.keySetBy ?? c.setBy}${at(c.keySetAt)} (${c.key || 'none'}), which would not belong to the worker's new certificate. ` +
        `Change it to key = "${pair.key}" or remove it, then reload Prosody and renew again`,
    );
  }
}

/** After the takeover, a name of the group must get the worker's pair and nothing else. */
function checkOurs(l: NameLookup, s: ServiceLookup, pair: NewPair, refuse: (text: string) => RenewalError): void {
  const c = s.cert;
  if (c && c.cert === pair.cert && c.key === pair.key && !c.alternatives) return;
  const other = c
    ? pairsOf(c)
        .map((p) => p.cert)
        .filter((f) => f !== pair.cert)
    : [];
  throw refuse(
    `after installing ${pair.cert}, Prosody would still ${other.length > 0 ? `use ${other.join(' or ')}` : 'find no certificate'} for ${l.domain} (${s.service}); ` +
      'the worker installs only where Prosody then finds its pair and nothing else. Move that file out of the certificate directory (or say what the lookup got wrong), then renew again',
  );
}

/**
 * A file to move that serves a name outside the group, and covers it: moving it would change that
 * name's certificate for the worse. (A file that does not cover the name, such as whatever a
 * direct-TLS port offers a host without a certificate of its own, was no good for it anyway.)
 */
function checkOthers(view: ProsodyView, group: CertificateGroup, entries: string[], after: LookupFacts, refuse: (text: string) => RenewalError): void {
  const gone = goneTest(view.certsDir, entries);
  const ours = new Set(group.domains);
  const coversIt = (file: string, domain: string) => {
    const read = view.inventory.files.get(file);
    const leaf = read?.ok ? read.certificates[0] : read?.leaf;
    return leaf !== undefined && covers(leaf, domain);
  };
  for (const e of view.inventory.domains) {
    if (ours.has(e.name) || !e.services) continue;
    const at = e.services.filter((s) => s.cert && pairsOf(s.cert).some((p) => (gone(p.cert) || gone(p.key)) && coversIt(p.cert, e.name)));
    if (at.length === 0) continue;
    const now = serviceLookups(prosodyNameOf(e.name, e), after, new Set(at.map((s) => s.service)));
    for (const s of at) {
      if (now.some((n) => n.service === s.service && sameAnswer(n, s))) continue;
      const used = pairsOf(s.cert!).find((p) => gone(p.cert) || gone(p.key))!.cert;
      throw refuse(
        `${relativeTo(view.certsDir, used)} also serves ${e.name} (${s.service}), which is not in this group: ` +
          `moving it into the archive would change ${e.name}'s certificate. Add ${e.name} to this group (renewal.certificates) or give it a certificate of its own first, then renew again`,
      );
    }
  }
}

/** The same files for the same ports. */
function sameAnswer(a: ServiceLookup, b: ServiceLookup): boolean {
  const sig = (s: ServiceLookup) =>
    `${s.ports.join(',')} ${
      s.cert
        ? pairsOf(s.cert)
            .map((p) => `${p.cert}|${p.key}`)
            .join(';')
        : (s.unknown ?? '')
    }`;
  return sig(a) === sig(b);
}

/** The lookup's facts once the entries are gone and the worker's pair is in the index under its names. */
function factsAfter(facts: LookupFacts, removed: string[], pair: NewPair): LookupFacts {
  const gone = (p: string) => removed.some((r) => p === r || p.startsWith(r + path.sep));
  const keep = (f: IndexedFile) => f.file !== pair.cert && !gone(f.file) && !gone(matchingKey(f.file));
  const indexed = [...facts.indexed.filter(keep), { file: pair.cert, names: pair.identities }];
  const isFile = (p: string) => p === pair.cert || p === pair.key || (!gone(p) && facts.isFile(p));
  return { ...facts, indexed, pending: (facts.pending ?? []).filter(keep), isFile };
}

function goneTest(certsDir: string, entries: string[]): (p: string) => boolean {
  const removed = entries.map((e) => path.join(certsDir, e));
  return (p) => removed.some((r) => p === r || p.startsWith(r + path.sep));
}

/**
 * Relative entries to move: each file, except that a file of a certbot lineage (`live/X/...` or
 * `archive/X/...`) brings both directories of it; an entry inside another is dropped.
 */
function entriesOf(certsDir: string, files: string[]): string[] {
  const entries = new Set<string>();
  for (const file of files) {
    const rel = relativeTo(certsDir, file);
    const parts = rel.split(path.sep);
    if (parts.length === 3 && (parts[0] === 'live' || parts[0] === 'archive')) {
      entries.add(`live/${parts[1]}`).add(`archive/${parts[1]}`);
    } else entries.add(parts.join('/'));
  }
  const sorted = [...entries].sort();
  return sorted.filter((e) => !sorted.some((o) => o !== e && e.startsWith(`${o}/`)));
}

const isInside = (dir: string, file: string) => file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
const relativeTo = (dir: string, file: string) => path.relative(dir, file);
const at = (where: string | undefined) => (where ? ` at ${where}` : '');
