/**
 * `renewal.hooks.pre` and `post`: commands (no shell) run around each group's run that orders a
 * certificate, as certbot's and lego's pre/post hooks are (e.g. stop the web server that holds
 * port 80 for http-01 standalone, start it again). Not run when the group is not due.
 *
 * Order and failures: pre, then the order, install, reload and verify, then post, which runs
 * whatever happened in between, also after a failed pre (to undo what it may have half done). A
 * failed pre means nothing is ordered: the run fails with reason `hook` (never worse: when in
 * doubt, do nothing). A failed post is reported and changes nothing else. Runs of groups with hooks
 * never overlap (one group's post must not restart a server another group's challenge needs
 * stopped); groups without a due renewal are not held up.
 *
 * Environment: XMPP_CERT_GROUP, XMPP_CERT_DOMAINS (space-separated), certbot's RENEWED_LINEAGE
 * and RENEWED_DOMAINS (so existing scripts fit), and for post XMPP_CERT_RESULT (renewed, fallback,
 * failed) and XMPP_CERT_REASON on failure.
 */
import type { HooksConfig } from '../config/renewal-schema';
import { RenewalError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { describeFailure, runCommand } from './run-command';
import type { CertificateGroup } from './types';

const HOOK_TIMEOUT_MS = 300_000;

export interface HookedResult {
  result: string;
  error?: { reason: string };
}

export class RunHooks {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: HooksConfig,
    private readonly log: Logger,
    private readonly step: (group: CertificateGroup, text: string) => void,
  ) {}

  /** `run` between pre and post; `preFailed` gives the outcome when pre fails (run is skipped). */
  around<T extends HookedResult>(group: CertificateGroup, lineage: string, run: () => Promise<T>, preFailed: (error: RenewalError) => Promise<T>): Promise<T> {
    if (!this.config.pre && !this.config.post) return run();
    const turn = this.queue.then(() => this.hooked(group, lineage, run, preFailed));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async hooked<T extends HookedResult>(
    group: CertificateGroup,
    lineage: string,
    run: () => Promise<T>,
    preFailed: (error: RenewalError) => Promise<T>,
  ): Promise<T> {
    const env = { XMPP_CERT_GROUP: group.name, XMPP_CERT_DOMAINS: group.domains.join(' '), RENEWED_LINEAGE: lineage, RENEWED_DOMAINS: group.domains.join(' ') };
    let outcome: T | undefined;
    try {
      const failed = this.config.pre ? await this.runHook('pre', this.config.pre, group, env) : undefined;
      outcome = failed ? await preFailed(failed) : await run();
      return outcome;
    } finally {
      if (this.config.post) {
        const result = outcome
          ? { XMPP_CERT_RESULT: outcome.result, ...(outcome.error ? { XMPP_CERT_REASON: outcome.error.reason } : {}) }
          : { XMPP_CERT_RESULT: 'failed' };
        const failed = await this.runHook('post', this.config.post, group, { ...env, ...result });
        if (failed) this.log.warn({ group: group.name, err: failed.message }, 'post hook failed');
      }
    }
  }

  /** Undefined when the hook succeeded, else the error (already reported as a step). */
  private async runHook(
    which: 'pre' | 'post',
    command: readonly string[],
    group: CertificateGroup,
    env: Record<string, string>,
  ): Promise<RenewalError | undefined> {
    const result = await runCommand(command, { env: { ...process.env, ...env }, timeoutMs: HOOK_TIMEOUT_MS });
    if (result.code === 0) {
      this.step(group, `${which} hook: ran ${command.join(' ')}`);
      return undefined;
    }
    const consequence = which === 'pre' ? 'nothing was ordered' : 'the renewal itself is not affected';
    const message = `the ${which} hook "${command.join(' ')}" ${describeFailure(result, HOOK_TIMEOUT_MS)}; ${consequence} (check renewal.hooks.${which})`;
    this.step(group, which === 'pre' ? `failed (hook): ${message}` : message);
    return new RenewalError(`${group.name}: ${message}`, 'hook', group.name);
  }
}
