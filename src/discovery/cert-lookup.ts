/**
 * Which certificate and key Prosody 0.12 picks for a host, from facts about the certificate
 * directory gathered elsewhere (a directory walk, parsed certificate names). Pure: no fs, no clock.
 *
 * The rules are those of Prosody 0.12's core/certmanager.lua (checked against tags 0.12.0 to
 * 0.12.5, where they are the same), described here in our own words:
 * - find_host_cert(host): for the host, then each parent domain in turn (drop the first label,
 *   down to the last one: conference.example.org, example.org, org), try
 *   1. the index (find_cert_in_index): a certificate whose names include the name exactly, else
 *      one whose names include `*.` + the name without its first label;
 *   2. the file names (find_cert with crt_try / key_try): the `certificate` option when it names a
 *      file, then DIR/NAME.crt + DIR/NAME.key, DIR/NAME/fullchain.pem + DIR/NAME/privkey.pem, and
 *      DIR/NAME.pem holding both, where DIR is the `certificate` option for that name if set,
 *      else the `certificates` directory.
 *   The first hit wins: the index is asked before the file names, at every level.
 * - A certificate whose key file is missing is never chosen: find_cert skips the pair and tries
 *   the next one, and index_certs leaves the certificate out of the index (its key is found with
 *   find_matching_key: `.crt` -> `.key`, `fullchain` -> `privkey`). So `keyFound` is true for
 *   every result this module returns; it stays in the shape for callers that build HostCert
 *   themselves.
 * Not done here: reading files, checking that a certificate is valid now (index_certs drops
 * expired ones), RFC 6125 name matching (Prosody's index does plain string lookups), and
 * `ssl = { certificate = ... }` tables, which override all of this.
 */

import type { FileRule, HostCert } from '../model/inventory';

export type { FileRule, HostCert } from '../model/inventory';

export interface LookupFacts {
  /** Absolute: the `certificates` directory (see effectiveCertsDir). */
  certsDir: string;
  /** From a directory walk done elsewhere. */
  isFile(path: string): boolean;
  /**
   * Names of the certificates Prosody's index_certs would index, keyed by file path: files in
   * certsDir and up to two directory levels below it (dot-directories skipped) whose own name ends
   * in `.crt` or contains `fullchain`, that start with a PEM CERTIFICATE line and are valid now.
   * Names: SAN dNSNames and the subject CN, lower-case, wildcards kept as `*.example.org`. May be empty.
   */
  certNames: ReadonlyMap<string, readonly string[]>;
  /** The `certificate` option Prosody sees for a name, absolute (see certificateOption); optional. */
  certificateFor?(name: string): string | undefined;
}

export interface CandidatePair {
  cert: string;
  key: string;
  via: FileRule;
}

/** The file-name pairs Prosody tries for one name in one directory, in its order. */
export function candidatePaths(certsDir: string, name: string): CandidatePair[] {
  const dir = certsDir.replace(/\/+$/, '');
  return [
    { cert: `${dir}/${name}.crt`, key: `${dir}/${name}.key`, via: 'crt' },
    { cert: `${dir}/${name}/fullchain.pem`, key: `${dir}/${name}/privkey.pem`, via: 'fullchain' },
    { cert: `${dir}/${name}.pem`, key: `${dir}/${name}.pem`, via: 'pem' },
  ];
}

export function findHostCert(host: string, facts: LookupFacts): HostCert | undefined {
  const wanted = host.toLowerCase();
  for (const name of selfAndParents(wanted)) {
    const hit = fromIndex(name, facts) ?? fromFiles(name, facts);
    if (hit) return { host: wanted, ...hit, keyFound: true, matchedName: name };
  }
  return undefined;
}

/** conference.example.org -> [conference.example.org, example.org, org], as find_host_cert recurses. */
function selfAndParents(host: string): string[] {
  const names = [host];
  let name = host;
  for (let dot = name.indexOf('.'); dot >= 0 && dot < name.length - 1; dot = name.indexOf('.')) {
    name = name.slice(dot + 1);
    names.push(name);
  }
  return names;
}

type Found = { cert: string; key: string; via: HostCert['via'] } | undefined;

/**
 * Exact name first, then the wildcard for the parent; no fallback between them once the exact
 * name is in the index. Among several files for one name Prosody takes whichever its hash table
 * yields first (Lua `next`); we take the first in certNames order.
 */
function fromIndex(name: string, facts: LookupFacts): Found {
  const index = indexOf(facts);
  const file = index.get(name) ?? index.get(name.replace(/^[^.]+\./, '*.'));
  return file === undefined ? undefined : { cert: file, key: matchingKey(file), via: 'index' };
}

/** name -> first file carrying it, built once per facts object: a lookup is then O(1), not O(files). */
const indexes = new WeakMap<LookupFacts, Map<string, string>>();
function indexOf(facts: LookupFacts): Map<string, string> {
  let index = indexes.get(facts);
  if (index) return index;
  index = new Map();
  for (const [file, names] of facts.certNames) {
    if (!wouldIndex(file, facts)) continue;
    for (const n of names) if (!index.has(n)) index.set(n, file);
  }
  indexes.set(facts, index);
  return index;
}

/** index_certs reads only `*.crt` and `*fullchain*` files, and only those with a key beside them. */
function wouldIndex(file: string, facts: LookupFacts): boolean {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return (base.endsWith('.crt') || base.includes('fullchain')) && facts.isFile(matchingKey(file));
}

/** find_matching_key: `.crt` -> `.key` at the end, and every `fullchain` in the path -> `privkey`. */
function matchingKey(certPath: string): string {
  return certPath.replace(/\.crt$/, '.key').replaceAll('fullchain', 'privkey');
}

function fromFiles(name: string, facts: LookupFacts): Found {
  const option = facts.certificateFor?.(name);
  const pairs = option === undefined ? [] : [optionFile(option)];
  pairs.push(...candidatePaths(option ?? facts.certsDir, name));
  return pairs.find((p) => facts.isFile(p.cert) && facts.isFile(p.key));
}

/** crt_try's first, empty entry: the option itself as the certificate, its key derived from it. */
function optionFile(path: string): CandidatePair {
  if (path.endsWith('.crt')) return { cert: path, key: `${path.slice(0, -4)}.key`, via: 'crt' };
  if (path.endsWith('/fullchain.pem')) return { cert: path, key: `${path.slice(0, -13)}privkey.pem`, via: 'fullchain' };
  return { cert: path, key: path, via: 'pem' };
}
