/**
 * Writing a command's output file (`status --output`, `dashboard --export`): atomically (a temp
 * file in the same directory, fsynced, renamed; state/durable-fs.ts), so a reader sees the previous
 * file or the new one, never a part; and a failure is one line naming the file, the flag and what
 * to do, not an errno and a stack. The directory must exist: a typo in it is not created.
 */
import fs from 'node:fs';
import path from 'node:path';
import { XmppCertError, messageOf } from '../shared/errors';
import { realOps, writeFileDurably } from '../state/durable-fs';

const WHY: Record<string, string> = {
  EACCES: 'permission denied (run as a user who may write there, or choose another file)',
  EPERM: 'permission denied (run as a user who may write there, or choose another file)',
  EISDIR: 'it is a directory (give a file name inside it)',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
};

export async function writeOutput(file: string, text: string, flag: string): Promise<string> {
  const target = path.resolve(file);
  const dir = path.dirname(target);
  if (!fs.existsSync(dir)) throw new XmppCertError(`${flag} ${file}: the directory ${dir} does not exist (create it first, or choose another file)`);
  if (fs.existsSync(target) && fs.statSync(target).isDirectory()) throw new XmppCertError(`${flag} ${file}: ${WHY.EISDIR}`);
  try {
    await writeFileDurably(realOps, target, text, { mode: 0o644, dirMode: 0o755 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new XmppCertError(`${flag} ${file}: cannot write it: ${WHY[code] ?? messageOf(err)}`, { cause: err });
  }
  return target;
}
