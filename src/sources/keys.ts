/**
 * Facts about the private keys Prosody would load beside certificates, for the loadability
 * verdict (evaluate/loadability.ts): the key file exists, Prosody's user may read it (owner, group,
 * mode of the file and x on every directory above it, as the kernel would decide), and it matches
 * the certificate's public key (when the exporter itself may read it; otherwise "not checked").
 * The key's bytes never leave this module: only the SHA-256 of its public key is compared.
 * Results are cached by (key file identity, certificate) so a rescan reads only changed keys.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spkiOfPrivateKey } from '../cert';
import { messageOf } from '../shared/errors';
import { readRegularFile } from '../shared/safe-read';
import type { KeyFacts } from '../model/inventory';

/** Who Prosody runs as, from /etc/passwd and /etc/group; undefined when the user is unknown here. */
export interface Account {
  name: string;
  uid: number;
  gids: Set<number>;
}

const MAX_KEY_BYTES = 1024 * 1024;
const MAX_DB_BYTES = 16 * 1024 * 1024;

/** The user from the passwd and group files (colon-separated, as getpwnam reads them). */
export function accountOf(name: string, files = { passwd: '/etc/passwd', group: '/etc/group' }): Account | undefined {
  let passwd: string;
  let group: string;
  try {
    passwd = readRegularFile(files.passwd, MAX_DB_BYTES).toString('utf8');
    group = readRegularFile(files.group, MAX_DB_BYTES).toString('utf8');
  } catch {
    return undefined;
  }
  const entry = passwd.split('\n').find((l) => l.split(':')[0] === name);
  const fields = entry?.split(':');
  if (!fields || fields.length < 4) return undefined;
  const gids = new Set([Number(fields[3])]);
  for (const line of group.split('\n')) {
    const [, , gid, members] = line.split(':');
    if (members?.split(',').includes(name)) gids.add(Number(gid));
  }
  return { name, uid: Number(fields[2]), gids };
}

/** The kernel's read check for `account` on `file`: r on the file, x on each directory of its real path. `dirs` caches directory answers. */
export function mayRead(file: string, account: Account, dirs = new Map<string, boolean>()): boolean {
  if (account.uid === 0) return true;
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return false;
  }
  for (let d = path.dirname(real); ; d = path.dirname(d)) {
    let ok = dirs.get(d);
    if (ok === undefined) dirs.set(d, (ok = permits(d, account, 0o1)));
    if (!ok) return false;
    if (d === path.dirname(d)) break;
  }
  return permits(real, account, 0o4);
}

function permits(p: string, account: Account, bit: number): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    return false;
  }
  if (st.uid === account.uid) return (st.mode & (bit << 6)) !== 0;
  if (account.gids.has(st.gid)) return (st.mode & (bit << 3)) !== 0;
  return (st.mode & bit) !== 0;
}

export class KeyChecker {
  private cache = new Map<string, { stamp: string; facts: Pick<KeyFacts, 'matches' | 'note'> }>();
  /** Directory search permissions, asked once per scan (every key of a tree shares its parents). */
  private dirs = new Map<string, boolean>();

  private next = new Map<string, { stamp: string; facts: Pick<KeyFacts, 'matches' | 'note'> }>();

  /** Keys not asked for in a whole scan leave the cache. */
  endScan(): void {
    this.dirs = new Map();
    this.cache = this.next;
    this.next = new Map();
  }

  /** `account` undefined: Prosody's user is unknown here, so its access is not checked. */
  check(key: string, certSpki: string | undefined, account: Account | undefined): KeyFacts {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(key);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { exists: false };
      return { exists: true, note: `the exporter cannot look at ${key}: ${messageOf(err)}` };
    }
    if (!stat.isFile()) return { exists: false, note: `${key} is not a regular file` };
    // Access is asked every scan (a parent directory's mode may change); the key is read only when it changed.
    const access = account ? { prosodyCanRead: mayRead(key, account, this.dirs) } : {};
    const stamp = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}|${certSpki ?? ''}`;
    const cached = this.cache.get(`${key}\n${certSpki ?? ''}`);
    if (cached?.stamp === stamp) {
      this.next.set(`${key}\n${certSpki ?? ''}`, cached);
      return { exists: true, ...access, ...cached.facts };
    }
    const match = matchOf(key, certSpki);
    this.next.set(`${key}\n${certSpki ?? ''}`, { stamp, facts: match });
    return { exists: true, ...access, ...match };
  }
}

/** Reads the key (when the exporter may) and compares its public half with the certificate's. */
function matchOf(key: string, certSpki: string | undefined): Pick<KeyFacts, 'matches' | 'note'> {
  let pem: Buffer;
  try {
    pem = readRegularFile(key, MAX_KEY_BYTES);
  } catch (err) {
    return { note: `not checked: the exporter cannot read ${key} (${(err as NodeJS.ErrnoException).code ?? messageOf(err)})` };
  }
  try {
    // The key's own public half when it carries one (fast); node's crypto (OpenSSL's decoders) otherwise.
    const spki = spkiOfPrivateKey(pem.toString('latin1')) ?? createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
    if (!certSpki) return {};
    return { matches: createHash('sha256').update(spki).digest('hex') === certSpki };
  } catch (err) {
    // An encrypted key, or no key at all: LuaSec cannot load it either (Prosody has no passphrase to give).
    return { matches: false, note: `${key} holds no usable private key (${messageOf(err).replace(/\s+/g, ' ').slice(0, 120)})` };
  } finally {
    pem.fill(0);
  }
}
