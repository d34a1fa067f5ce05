/**
 * The log-rotation half of `xmpp-cert setup`: copies the package's deploy/logrotate/xmpp-cert to
 * ROOT/etc/logrotate.d/xmpp-cert (mode 0644, root's: logrotate skips a file others may write).
 * It does not run logrotate; the system's daily logrotate run picks the file up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { XmppCertError, messageOf } from '../../shared/errors';

export const LOGROTATE_FILE = 'deploy/logrotate/xmpp-cert';

export function installLogrotate(packageDir: string, root: string | undefined, say: (line: string) => void): string {
  const dir = path.join(root ? path.resolve(root) : '/', 'etc/logrotate.d');
  const target = path.join(dir, 'xmpp-cert');
  try {
    const text = fs.readFileSync(path.join(packageDir, LOGROTATE_FILE), 'utf8');
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.writeFileSync(target, text, { mode: 0o644 });
    fs.chmodSync(target, 0o644); // an existing file keeps its mode otherwise
  } catch (err) {
    throw new XmppCertError(`cannot install ${target}: ${messageOf(err)} (run setup as root, or use --root DIR)`, { cause: err });
  }
  say(`installed ${target} (rotates /var/log/xmpp-cert/*.log, the alert log)`);
  return target;
}
