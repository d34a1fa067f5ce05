/**
 * Turns `renewal.install.owner` / `renewal.install.group` (a name or a numeric id) into numeric
 * ids for chown. Names are looked up with `getent`, so users from NSS (LDAP, sssd) work too; when
 * getent is not installed (small container images), /etc/passwd and /etc/group are read instead.
 * A name that does not exist is an IssueError naming the config key. Does not chown anything.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { IssueError, messageOf } from '../shared/errors';
import type { FileOwner } from '../state/durable-fs';

export interface OwnerOptions {
  owner?: string | number;
  group?: string | number;
}

type Database = 'passwd' | 'group';

/** `domain` only labels the error (IssueError carries the certificate it was for). */
export async function resolveOwner(options: OwnerOptions, domain: string): Promise<FileOwner> {
  const ids: FileOwner = {};
  if (options.owner !== undefined && options.owner !== '') ids.uid = await resolveId('passwd', options.owner, domain);
  if (options.group !== undefined && options.group !== '') ids.gid = await resolveId('group', options.group, domain);
  return ids;
}

async function resolveId(database: Database, value: string | number, domain: string): Promise<number> {
  const key = database === 'passwd' ? 'renewal.install.owner' : 'renewal.install.group';
  if (typeof value === 'number' || /^\d+$/.test(value)) return Number(value);
  let id: number | undefined;
  try {
    id = await lookup(database, value);
  } catch (err) {
    throw new IssueError(`${key}: cannot look up "${value}": ${messageOf(err)}`, domain, { cause: err });
  }
  if (id === undefined) {
    const what = database === 'passwd' ? 'user' : 'group';
    throw new IssueError(`${key}: there is no ${what} named "${value}" on this system (check the name, or give a numeric id)`, domain);
  }
  return id;
}

/** getent first; its exit code 2 means "no such entry". */
function lookup(database: Database, name: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    execFile('getent', [database, name], { timeout: 5000 }, (err, stdout) => {
      if (!err) return resolve(idFromLine(stdout.split('\n')[0] ?? ''));
      const code: unknown = (err as { code?: unknown }).code; // a spawn error's name, or the exit code
      if (code === 'ENOENT') return void fromFile(database, name).then(resolve, reject); // no getent binary
      if (code === 2) return resolve(undefined);
      reject(err instanceof Error ? err : new Error(messageOf(err)));
    });
  });
}

/** passwd and group lines share the shape `name:x:id:...`. */
async function fromFile(database: Database, name: string): Promise<number | undefined> {
  const text = await fs.promises.readFile(`/etc/${database}`, 'utf8');
  const line = text.split('\n').find((l) => l.split(':')[0] === name);
  return line === undefined ? undefined : idFromLine(line);
}

function idFromLine(line: string): number | undefined {
  const id = line.split(':')[2];
  return id !== undefined && /^\d+$/.test(id) ? Number(id) : undefined;
}
