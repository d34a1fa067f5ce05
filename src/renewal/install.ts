/**
 * Writes a certificate and key into Prosody's layout, `<certs>/<name>/fullchain.pem` and
 * `privkey.pem`: each through a temp file in the same directory, fsynced, renamed, then the
 * directory fsynced; the key is created 0600 and never exists with wider rights. The key goes
 * first so Prosody never sees a new certificate without its key.
 * Not yet here (renewal worker issue): keeping previous pairs and the crash-consistent swap of an
 * existing pair.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { IssueError, messageOf } from '../shared/errors';

export interface InstalledPair {
  dir: string;
  certificate: string;
  key: string;
}

export async function installPair(certsDir: string, name: string, certificatePem: string, privateKeyPem: string): Promise<InstalledPair> {
  const dir = path.join(certsDir, name);
  const pair = { dir, certificate: path.join(dir, 'fullchain.pem'), key: path.join(dir, 'privkey.pem') };
  try {
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o755 });
    await writeAtomic(pair.key, privateKeyPem, 0o600);
    await writeAtomic(pair.certificate, certificatePem, 0o644);
    await syncDir(dir);
    return pair;
  } catch (err) {
    throw new IssueError(`cannot install the certificate for ${name} in ${dir}: ${messageOf(err)} (check that the directory is writable)`, name, { cause: err });
  }
}

async function writeAtomic(file: string, content: string, mode: number): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const handle = await fs.promises.open(temp, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.chmod(mode); // the umask may have narrowed or the file system widened it
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.promises.rename(temp, file);
  } catch (err) {
    await fs.promises.rm(temp, { force: true });
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
