/**
 * Names and read-only look-ups for the generation layout install.ts writes:
 *
 *   certs/<name>                          symlink -> .xmpp-cert/<name>/<generation> (relative)
 *   certs/.xmpp-cert/<name>/<generation>/ fullchain.pem + privkey.pem, never changed once named
 *   certs/.xmpp-cert/<name>/<gen>.tmp-*   a generation being built (removed by recovery)
 *   certs/.<name>.link-tmp-*              a symlink about to be renamed over certs/<name>
 *
 * Generations are zero-padded counters ("000001"), so `ls` shows them in order. Everything under a
 * dot name is invisible to Prosody's certificate index, which skips directories starting with ".".
 * Nothing here writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { IssueError } from '../shared/errors';

export const ARCHIVE_DIR = '.xmpp-cert';
export const CERT_FILE = 'fullchain.pem';
export const KEY_FILE = 'privkey.pem';

const GENERATION = /^\d+$/;
const TEMP_GENERATION = /^\d+\.tmp-/;

export interface Layout {
  certsDir: string;
  name: string;
  /** certs/<name>: the path Prosody reads. */
  link: string;
  /** certs/.xmpp-cert/<name>: the generations. */
  archive: string;
}

export function layoutOf(certsDir: string, name: string): Layout {
  checkName(name);
  return { certsDir, name, link: path.join(certsDir, name), archive: path.join(certsDir, ARCHIVE_DIR, name) };
}

/** A name becomes a path component: no separators, no dot names (they would hide it from Prosody). */
function checkName(name: string): void {
  if (name === '' || name.startsWith('.') || /[/\\\0]/.test(name)) {
    throw new IssueError(`"${name}" cannot be a certificate directory name (it must be a domain name without "/" that does not start with ".")`, name);
  }
}

export const generationName = (n: number): string => String(n).padStart(6, '0');

/** The symlink's content: relative, so the volume can be mounted at another path (docker-compose). */
export const linkTarget = (layout: Layout, generation: string): string => path.posix.join(ARCHIVE_DIR, layout.name, generation);

export const linkTempPrefix = (layout: Layout): string => `.${layout.name}.link-tmp-`;

export interface ArchiveListing {
  /** Oldest first. */
  generations: string[];
  /** Names of unfinished generations (`<gen>.tmp-*`), from an install that did not finish. */
  temps: string[];
}

export async function readArchive(layout: Layout): Promise<ArchiveListing> {
  let names: string[];
  try {
    names = await fs.promises.readdir(layout.archive);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { generations: [], temps: [] };
    throw err;
  }
  const generations = names.filter((n) => GENERATION.test(n)).sort((a, b) => Number(a) - Number(b));
  return { generations, temps: names.filter((n) => TEMP_GENERATION.test(n)) };
}

/** What certs/<name> is now. */
export type Current =
  | { kind: 'missing' }
  /** Our symlink; `exists` is false when its generation is gone. */
  | { kind: 'generation'; generation: string; exists: boolean }
  /** A real directory: an operator's pair, or one written by an older version of this program. */
  | { kind: 'directory' }
  /** A symlink we did not make (to certbot's live directory, say), or some other file. */
  | { kind: 'other'; detail: string };

export async function currentOf(layout: Layout): Promise<Current> {
  const stat = await fs.promises.lstat(layout.link).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!stat) return { kind: 'missing' };
  if (stat.isDirectory()) return { kind: 'directory' };
  if (!stat.isSymbolicLink()) return { kind: 'other', detail: 'not a directory' };
  const target = await fs.promises.readlink(layout.link);
  const generation = ownGeneration(layout, target);
  if (generation === undefined) return { kind: 'other', detail: `a symbolic link to ${target}` };
  const exists = fs.statSync(path.join(layout.archive, generation), { throwIfNoEntry: false })?.isDirectory() === true;
  return { kind: 'generation', generation, exists };
}

/** The generation a link points at, when it points into our archive (relative or absolute). */
function ownGeneration(layout: Layout, target: string): string | undefined {
  const resolved = path.resolve(layout.certsDir, target);
  if (path.dirname(resolved) !== path.resolve(layout.archive)) return undefined;
  const generation = path.basename(resolved);
  return GENERATION.test(generation) ? generation : undefined;
}

export interface GenerationInfo {
  generation: string;
  dir: string;
  /** certs/<name> points here. */
  live: boolean;
}

/** Complete generations of `name`, oldest first; temp (unfinished) ones are not listed. */
export async function listGenerations(certsDir: string, name: string): Promise<GenerationInfo[]> {
  const layout = layoutOf(certsDir, name);
  const [{ generations }, current] = await Promise.all([readArchive(layout), currentOf(layout)]);
  const live = current.kind === 'generation' ? current.generation : undefined;
  return generations.map((generation) => ({ generation, dir: path.join(layout.archive, generation), live: generation === live }));
}
