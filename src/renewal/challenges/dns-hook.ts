/**
 * The dns-01 responder: runs the operator's hook (a command as a list, no shell) as
 * `hook... add _acme-challenge.<domain> <value>` and later `hook... remove _acme-challenge.<domain> <value>`,
 * with CERTBOT_DOMAIN and CERTBOT_VALIDATION set as certbot's manual hooks have them, so existing
 * scripts fit. ready() waits until `propagation` seconds have passed since the last record was added. It does not
 * query DNS itself: the system resolver is not what the CA sees.
 */
import { execFile } from 'node:child_process';
import { RenewalError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import type { ChallengeResponder } from './responder';

const HOOK_TIMEOUT_MS = 120_000;
const STDERR_TAIL = 500;

/** The TXT record name; a wildcard's record is the base name's (RFC 8555 8.4). */
export function challengeRecordName(domain: string): string {
  return `_acme-challenge.${domain.replace(/^\*\./, '')}`;
}

export function createDnsHookResponder(hook: string[], propagationSeconds: number, log: Logger): ChallengeResponder {
  // When the last record was added: orders running at the same time each wait until it had time to propagate.
  let lastAdd = 0;
  return {
    type: 'dns-01',
    async add(domain, _token, value) {
      await runHook(hook, 'add', domain, value, log);
      lastAdd = Date.now();
    },
    async ready() {
      const wait = lastAdd + propagationSeconds * 1000 - Date.now();
      if (wait <= 0) return;
      log.info({ seconds: Math.ceil(wait / 1000) }, 'waiting for the dns-01 TXT records to propagate');
      await new Promise((resolve) => setTimeout(resolve, wait));
    },
    async remove(domain, _token, value) {
      await runHook(hook, 'remove', domain, value, log);
    },
    async close() {},
  };
}

function runHook(hook: string[], action: 'add' | 'remove', domain: string, value: string, log: Logger): Promise<void> {
  const [command, ...args] = hook;
  const name = challengeRecordName(domain);
  const env = { ...process.env, CERTBOT_DOMAIN: domain.replace(/^\*\./, ''), CERTBOT_VALIDATION: value };
  return new Promise((resolve, reject) => {
    execFile(command ?? '', [...args, action, name, value], { env, timeout: HOOK_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (!err) {
        log.debug({ action, record: name }, 'dns-01 hook done');
        resolve();
        return;
      }
      const why = err.killed ? `timed out after ${HOOK_TIMEOUT_MS / 1000} s` : `failed (${err.code ?? err.message})`;
      const tail = String(stderr).trim().slice(-STDERR_TAIL);
      const message = `the dns-01 hook ${command} ${action} ${name} ${why}${tail ? `: ${tail}` : ''}; fix the hook or run it by hand to see why`;
      reject(new RenewalError(message, 'challenge_setup', domain, { challenge: 'dns-01' }, { cause: err }));
    });
  });
}
