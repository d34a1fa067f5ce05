/**
 * Names and read-only look-ups for the generation layout install.ts writes:
 *
 *   certs/<name>                          symlink -> .xmpp-cert/<name>/<generation> (relative)
 *   certs/.xmpp-cert/<name>/<generation>/ fullchain.pem + privkey.pem, never changed once named
 *   certs/.xmpp-cert/<name>/<gen>-kept/   an operator's directory that was certs/<name>, moved
 *                                         here whole on the first install: never pruned
 *   certs/.xmpp-cert/<name>/<gen>.tmp-*   a generation being built (removed by recovery)
 *   certs/.<name>.link-tmp-*              a symlink about to be renamed over certs/<name>
 *
 * Generations are zero-padded counters ("000001"), so `ls` shows them in order. Everything under a
 * dot name is invisible to Prosody's certificate index, which skips directories starting with ".".
 * Only real directories count as generations: a symbolic link planted in the archive is never
 * taken for one (the worker never follows a link it did not create there). Nothing here writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { IssueError } from '../shared/errors';

export const ARCHIVE_DIR = '.xmpp-cert';
export const CERT_FILE = 'fullchain.pem';
export const KEY_FILE = 'privkey.pem';
/** What a generation the worker wrote holds. */
export const KEEP_FILES: readonly string[] = [CERT_FILE, KEY_FILE];

const GENERATION = /^\d+(-kept)?$/;
const TEMP_GENERATION = /^\d+\.tmp-/;

/** The suffix of a migrated operator directory: kept as a backup, never pruned. */
export const KEPT_SUFFIX = '-kept';
export const isKept = (generation: string): boolean => generation.endsWith(KEPT_SUFFIX);
export const generationNumber = (generation: string): number => Number.parseInt(generation, 10);

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
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(layout.archive, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { generations: [], temps: [] };
    throw err;
  }
  const generations = entries
    .filter((e) => e.isDirectory() && GENERATION.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => generationNumber(a) - generationNumber(b) || Number(isKept(b)) - Number(isKept(a)));
  return { generations, temps: entries.filter((e) => TEMP_GENERATION.test(e.name)).map((e) => e.name) };
}

/**
 * The install tree's own directories, certs/.xmpp-cert and certs/.xmpp-cert/<name>, must be real
 * directories when they exist: a symbolic link there (planted by whoever can write the certificate
 * directory) would send generations, recovery and pruning elsewhere, as root. Refused with an error
 * naming it; nothing is followed.
 */
export async function checkTree(layout: Layout): Promise<void> {
  for (const dir of [path.join(layout.certsDir, ARCHIVE_DIR), layout.archive]) {
    const stat = await fs.promises.lstat(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!stat || stat.isDirectory()) continue;
    const why = stat.isSymbolicLink()
      ? `a symbolic link (to ${await fs.promises.readlink(dir)}): the worker does not follow links it did not create inside its install tree`
      : 'not a directory';
    throw new IssueError(`${dir} is ${why}; remove it (the worker creates it as a directory of its own) and run again`, layout.name);
  }
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
  const exists = fs.lstatSync(path.join(layout.archive, generation), { throwIfNoEntry: false })?.isDirectory() === true;
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
