/**
 * The file source: finds certificate files (a certificate directory walk, extra globs) and reads
 * them through a cache keyed by (device, inode, size, mtime), so a rescan stats every file but
 * parses only those that changed. A file that fails becomes a ReadError value; nothing here throws
 * for a bad file. Does not decide which file serves which domain (discovery does).
 */
import fs from 'node:fs';
import path from 'node:path';
import fg from 'fast-glob';
import { parseCertificates, readError, type FileResult } from '../cert';
import { messageOf } from '../shared/errors';

/** File names that hold certificates; key files and LE's partial files are left out. */
const CERT_EXTENSIONS = /\.(crt|pem|cer|der)$/i;
const NOT_CERTIFICATES = new Set(['privkey.pem', 'chain.pem', 'cert.pem']);
const READ_CONCURRENCY = 32;

export interface DirListing {
  /** Files to read as certificates, sorted. */
  candidates: string[];
  /** Every regular file seen (for Prosody's lookup rules). */
  existing: Set<string>;
}

/**
 * Walks `dir` and two levels of subdirectories below it (as deep as Prosody's certificate index
 * looks; dot-directories skipped). In a subdirectory that has a fullchain.pem only that file is
 * read, so a Let's Encrypt lineage counts as one certificate. Throws only when `dir` itself cannot
 * be listed (the caller reports the source as down); an unreadable subdirectory is passed over.
 */
export async function listCertificateDir(dir: string): Promise<DirListing> {
  const listing: DirListing = { candidates: [], existing: new Set() };
  await walk(dir, 0, listing, await fs.promises.readdir(dir, { withFileTypes: true }));
  listing.candidates.sort();
  return listing;
}

const MAX_DEPTH = 2;

async function walk(dir: string, depth: number, listing: DirListing, entries: fs.Dirent[]): Promise<void> {
  const names = entries.map((e) => e.name);
  const lineage = depth > 0 && names.includes('fullchain.pem');
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    const kind = await kindOf(full, entry);
    if (kind === 'file') listing.existing.add(full);
    const wanted = lineage ? entry.name === 'fullchain.pem' : CERT_EXTENSIONS.test(entry.name) && !NOT_CERTIFICATES.has(entry.name);
    // A directory named like a certificate (x.crt) is reported as not_a_file, not walked.
    if (wanted) listing.candidates.push(full);
    else if (kind === 'dir' && depth < MAX_DEPTH && !entry.name.startsWith('.')) {
      const children = await fs.promises.readdir(full, { withFileTypes: true }).catch(() => undefined);
      if (children) await walk(full, depth + 1, listing, children);
    }
  }
}

/** A symlink is followed; a dangling one or a loop counts as neither file nor directory. */
async function kindOf(full: string, entry: fs.Dirent): Promise<'file' | 'dir' | 'other'> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (!entry.isSymbolicLink()) return 'other';
  try {
    const stat = await fs.promises.stat(full);
    return stat.isFile() ? 'file' : stat.isDirectory() ? 'dir' : 'other';
  } catch {
    return 'other';
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
}

/** Reads and parses certificate files, re-parsing only what changed since the last call. */
export class CertificateFileCache {
  private entries = new Map<string, CacheEntry>();
  /** Files parsed by the last `read` (the rest came from the cache); for logs and benchmarks. */
  parsedLastTime = 0;

  constructor(private readonly maxFileSize: number) {}

  async read(paths: readonly string[]): Promise<Map<string, FileResult>> {
    const results = new Map<string, FileResult>();
    const next = new Map<string, CacheEntry>();
    this.parsedLastTime = 0;
    let cursor = 0;
    const worker = async () => {
      while (cursor < paths.length) {
        const file = paths[cursor++]!;
        const entry = await this.readOne(file);
        next.set(file, entry);
        results.set(file, entry.result);
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, paths.length) }, worker));
    this.entries = next; // files that disappeared leave the cache, and so lose their series
    return new Map([...paths].map((p) => [p, results.get(p)!]));
  }

  private async readOne(file: string): Promise<CacheEntry> {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(file);
    } catch (err) {
      return { key: '', result: await statError(file, err) };
    }
    if (!stat.isFile()) return { key: '', result: readError('not_a_file', `${file} is a ${stat.isDirectory() ? 'directory' : 'special file'}, not a certificate file`) };
    if (stat.size > this.maxFileSize) {
      return { key: '', result: readError('too_large', `${stat.size} bytes, over scan.maxFileSize (${this.maxFileSize}); a certificate bundle is a few KiB`) };
    }
    const key = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    const cached = this.entries.get(file);
    if (cached && cached.key === key) return cached;
    this.parsedLastTime++;
    try {
      return { key, result: parseCertificates(await fs.promises.readFile(file)) };
    } catch (err) {
      return { key: '', result: await statError(file, err) };
    }
  }
}

async function statError(file: string, err: unknown): Promise<FileResult> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return readError('symlink_loop', `${file} is a symbolic link loop`);
  if (code === 'ENOENT') {
    const dangling = await fs.promises.lstat(file).then((s) => s.isSymbolicLink(), () => false);
    return readError('not_found', dangling ? `${file} is a symbolic link to a missing file` : `${file} does not exist`);
  }
  if (code === 'EISDIR') return readError('not_a_file', `${file} is a directory`);
  return readError('unreadable', `${file}: ${messageOf(err)} (check permissions for the exporter's user)`);
}
