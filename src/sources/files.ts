/**
 * The file source: finds certificate files (a certificate directory walk, extra globs) and reads
 * them through a cache keyed by (device, inode, size, mtime), so a rescan stats every file but
 * parses only those that changed. A file that fails becomes a ReadError value; nothing here throws
 * for a bad file. Does not decide which file serves which domain (discovery does).
 *
 * Why synchronous fs calls: each promise-based call pays ~40 us of thread-pool round trip, which
 * made a 10,000-file walk take 0.5 s and a rescan 0.7 s. Local stat/read calls take a few
 * microseconds, so the walk and the reads run synchronously in batches and yield to the event
 * loop between batches; a scrape waits at most one batch.
 */
import fs from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import { ChainCache, parseCertificates, readError, type FileResult } from '../cert';
import { messageOf, RefusedFileError, type RefusedKind } from '../shared/errors';
import { kindOfStat, readRegularFile } from '../shared/safe-read';

/** File names that hold certificates; key files and certbot's partial files (also numbered, in archive/) are left out. */
const CERT_EXTENSIONS = /\.(crt|pem|cer|der)$/i;
const NOT_CERTIFICATES = /^(privkey|chain|cert)\d*\.pem$/;
/** index_certs opens files named `*.crt` or containing `fullchain`, whatever else they are called. */
export const prosodyWouldIndex = (name: string): boolean => name.endsWith('.crt') || name.includes('fullchain');

export interface DirListing {
  /** Files to read as certificates, sorted: ours (by extension) and every file Prosody's index would open. */
  candidates: string[];
  /** Files Prosody's index_certs would open (regular files only), in walk order. */
  indexable: string[];
  /** Every regular file seen (for Prosody's lookup rules). */
  existing: Set<string>;
  /** Directories that could not be listed: what Prosody may find there is unknown. */
  unreadable: Array<{ dir: string; error: string }>;
}

/**
 * Walks `dir` and two levels of subdirectories below it (as deep as Prosody's certificate index
 * looks; dot-directories skipped). In a subdirectory that has a fullchain.pem only that file is
 * read, so a Let's Encrypt lineage counts as one certificate. Throws only when `dir` itself cannot
 * be listed (the caller reports the source as down); an unreadable subdirectory is passed over.
 */
export async function listCertificateDir(dir: string): Promise<DirListing> {
  const listing: DirListing = { candidates: [], indexable: [], existing: new Set(), unreadable: [] };
  // Each directory is read when its turn comes (not when its parent is), so a batch is BATCH reads.
  const pending: Array<{ dir: string; depth: number; entries?: fs.Dirent[] }> = [{ dir, depth: 0, entries: fs.readdirSync(dir, { withFileTypes: true }) }];
  for (let done = 0; pending.length > 0; done++) {
    if (done % BATCH === BATCH - 1) await yieldToLoop();
    const next = pending.pop()!;
    const entries = next.entries ?? readdirOrUndefined(next.dir, listing);
    if (entries) listDirectory(next.dir, next.depth, entries, listing, pending);
  }
  listing.candidates.sort();
  return listing;
}

const MAX_DEPTH = 2;
const BATCH = 64;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

function listDirectory(
  dir: string,
  depth: number,
  entries: fs.Dirent[],
  listing: DirListing,
  pending: Array<{ dir: string; depth: number; entries?: fs.Dirent[] }>,
): void {
  const lineage = depth > 0 && entries.some((e) => e.name === 'fullchain.pem');
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    const kind = kindOf(full, entry);
    if (kind === 'file') listing.existing.add(full);
    const indexed = kind !== 'dir' && prosodyWouldIndex(entry.name);
    if (indexed && kind === 'file') listing.indexable.push(full);
    const wanted = indexed || (lineage ? entry.name === 'fullchain.pem' : CERT_EXTENSIONS.test(entry.name) && !NOT_CERTIFICATES.test(entry.name));
    // A directory named like a certificate (x.crt) is reported as not_a_file, not walked.
    if (wanted) listing.candidates.push(full);
    else if (kind === 'dir' && depth < MAX_DEPTH && !entry.name.startsWith('.')) pending.push({ dir: full, depth: depth + 1 });
  }
}

/** An unreadable subdirectory is passed over and remembered: what it hides is unknown, not absent. */
function readdirOrUndefined(dir: string, listing: DirListing): fs.Dirent[] | undefined {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    listing.unreadable.push({ dir, error: messageOf(err) });
    return undefined;
  }
}

/** A symlink is followed; a dangling one or a loop counts as neither file nor directory. */
function kindOf(full: string, entry: fs.Dirent): 'file' | 'dir' | 'other' {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (!entry.isSymbolicLink()) return 'other';
  try {
    const stat = fs.statSync(full);
    return stat.isFile() ? 'file' : stat.isDirectory() ? 'dir' : 'other';
  } catch {
    return 'other'; // dangling or a loop: reported when the file is read
  }
}

/** Expands the `files` globs; a literal path is kept even when missing, so it is reported. */
export async function expandGlobs(patterns: readonly string[]): Promise<string[]> {
  const found = new Set<string>();
  for (const pattern of patterns) {
    if (!fg.isDynamicPattern(pattern)) {
      found.add(pattern);
      continue;
    }
    const matches = await fg(pattern, {
      absolute: true,
      onlyFiles: false,
      followSymbolicLinks: true,
      suppressErrors: true,
    });
    for (const match of matches) found.add(path.normalize(match));
  }
  return [...found].sort();
}

interface CacheEntry {
  key: string;
  result: FileResult;
  /** The first line is exactly `-----BEGIN CERTIFICATE-----` (index_certs reads only such files). */
  firstLineIsCertificate: boolean;
}

const BEGIN_LINE = '-----BEGIN CERTIFICATE-----';
const firstLine = (bytes: Buffer) => {
  const eol = bytes.indexOf(0x0a);
  return bytes.toString('latin1', 0, eol < 0 ? bytes.length : eol) === BEGIN_LINE;
};

/** Reads and parses certificate files, re-parsing only what changed since the last call. */
export class CertificateFileCache {
  private entries = new Map<string, CacheEntry>();
  private readonly chains = new ChainCache();
  /** Files parsed by the last `read` (the rest came from the cache); for logs and benchmarks. */
  parsedLastTime = 0;
  /** Files of the last `read` whose first line is exactly `-----BEGIN CERTIFICATE-----`. */
  firstLineIsCertificate = new Set<string>();

  constructor(private readonly maxFileSize: number) {}

  async read(paths: readonly string[]): Promise<Map<string, FileResult>> {
    const results = new Map<string, FileResult>();
    const next = new Map<string, CacheEntry>();
    this.parsedLastTime = 0;
    this.firstLineIsCertificate = new Set();
    this.chains.nextGeneration();
    for (let i = 0; i < paths.length; i++) {
      if (i % BATCH === BATCH - 1) await yieldToLoop();
      const file = paths[i]!;
      const entry = this.readOne(file);
      next.set(file, entry);
      results.set(file, entry.result);
      if (entry.firstLineIsCertificate) this.firstLineIsCertificate.add(file);
    }
    this.entries = next; // files that disappeared leave the cache, and so lose their series
    return results;
  }

  private readOne(file: string): CacheEntry {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch (err) {
      return failed(statError(file, err));
    }
    // By type and size before any byte is read: a FIFO named x.crt would block a plain read forever.
    const kind = kindOfStat(stat);
    if (kind !== 'file') return failed(readError('not_a_file', `${file} is ${KIND_WORDS[kind]}, not a certificate file; refused without reading it`));
    if (stat.size > this.maxFileSize) return failed(tooLarge(stat.size, this.maxFileSize));
    const key = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    const cached = this.entries.get(file);
    if (cached && cached.key === key) return cached;
    this.parsedLastTime++;
    try {
      const bytes = readRegularFile(file, this.maxFileSize);
      return { key, result: parseCertificates(bytes, this.chains), firstLineIsCertificate: firstLine(bytes) };
    } catch (err) {
      if (err instanceof RefusedFileError)
        return failed(err.kind === 'too_large' ? tooLarge(stat.size, this.maxFileSize) : readError('not_a_file', err.message));
      return failed(statError(file, err));
    }
  }
}

const failed = (result: FileResult): CacheEntry => ({ key: '', result, firstLineIsCertificate: false });
const tooLarge = (size: number, max: number) => readError('too_large', `${size} bytes, over scan.maxFileSize (${max}); a certificate bundle is a few KiB`);
const KIND_WORDS: Record<RefusedKind, string> = { fifo: 'a FIFO', socket: 'a socket', device: 'a device', directory: 'a directory', special: 'a special file' };

function statError(file: string, err: unknown): FileResult {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return readError('symlink_loop', `${file} is a symbolic link loop`);
  if (code === 'ENOENT') {
    const dangling = fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink() === true;
    return readError('not_found', dangling ? `${file} is a symbolic link to a missing file` : `${file} does not exist`);
  }
  if (code === 'EISDIR') return readError('not_a_file', `${file} is a directory`);
  return readError('unreadable', `${file}: ${messageOf(err)} (check permissions for the exporter's user)`);
}
