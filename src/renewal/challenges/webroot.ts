/**
 * The http-01 webroot responder: writes `<webroot>/.well-known/acme-challenge/<token>` (directories
 * created as needed, the file 0644 so the web server's user can read it) for a web server that
 * already serves port 80, and removes it afterwards. It does not configure or check the web server.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { RenewalError, messageOf } from '../../shared/errors';
import type { ChallengeResponder } from './responder';
import { isToken } from './token';

export function createWebrootResponder(webroot: string): ChallengeResponder {
  const dir = path.join(webroot, '.well-known', 'acme-challenge');
  return {
    type: 'http-01',
    async add(domain, token, keyAuthorization) {
      if (!isToken(token)) throw new RenewalError(`the CA sent an unusable http-01 token for ${domain}`, 'challenge_setup', domain);
      const file = path.join(dir, token);
      try {
        await fs.mkdir(dir, { recursive: true, mode: 0o755 });
        await fs.writeFile(file, keyAuthorization, { mode: 0o644 });
        // The umask may have taken rights away; the web server must read the file.
        await fs.chmod(file, 0o644);
      } catch (err) {
        throw new RenewalError(
          `cannot write the http-01 token for ${domain} to ${file} (${messageOf(err)}); make challenge.webroot writable by this user`,
          'challenge_setup',
          domain,
          { challenge: 'http-01' },
          { cause: err },
        );
      }
    },
    async ready() {},
    async remove(_domain, token) {
      if (isToken(token)) await fs.rm(path.join(dir, token), { force: true });
    },
    async close() {},
  };
}
