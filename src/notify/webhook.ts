/**
 * The webhook channel: one JSON POST per message, in the hook's format (slack, discord, generic),
 * with its custom headers and timeout, through node's fetch. Any 2xx is delivered; a redirect is
 * not followed (it could carry the body and headers to another host) and counts as refused.
 * The URL's path and query and the header values are secrets (Slack and Discord put the token in
 * the path): messages name only the hook's label and the URL's origin, and any answer text quoted
 * in an error is scrubbed of them. It does not retry (notifier.ts does).
 */
import type { NotifyEventType, WebhookConfig } from '../config/notify-schema';
import { messageOf } from '../shared/errors';
import { urlOrigin, urlSecretParts } from '../shared/secrets';
import type { Channel } from './channel';
import type { NotifyEvent } from './events';
import { discord, generic, slack } from './format';
import { NotifyError, scrub, type NotifyFailureReason } from './errors';

/** How much of a refusal's body is quoted in the error (Slack says e.g. "invalid_payload"). */
const QUOTE_CHARS = 200;

export class WebhookChannel implements Channel {
  readonly events: ReadonlySet<NotifyEventType>;

  constructor(
    private readonly hook: WebhookConfig,
    readonly label: string,
  ) {
    this.events = new Set(hook.events);
  }

  describe(): string {
    return `${this.hook.format} webhook at ${urlOrigin(this.hook.url)}/<redacted>`;
  }

  async send(events: readonly NotifyEvent[]): Promise<void> {
    const body = this.hook.format === 'slack' ? slack(events) : this.hook.format === 'discord' ? discord(events) : generic(events);
    let response: Response;
    try {
      response = await fetch(this.hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'xmpp-cert', ...this.hook.headers },
        body: JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.hook.timeout * 1000),
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    const answer = await response.text().catch(() => '');
    if (response.status >= 200 && response.status < 300) return;
    throw this.refused(response.status, answer);
  }

  private failure(reason: NotifyFailureReason, message: string, cause?: unknown): NotifyError {
    return new NotifyError(message, reason, this.label, cause === undefined ? undefined : { cause });
  }

  private secrets(): string[] {
    return [...urlSecretParts(this.hook.url), ...Object.values(this.hook.headers)];
  }

  private refused(status: number, answer: string): NotifyError {
    const where = urlOrigin(this.hook.url);
    const quoted = scrub(answer.replace(/\s+/g, ' ').trim().slice(0, QUOTE_CHARS), this.secrets());
    const said = `HTTP ${status}${quoted ? `: ${quoted}` : ''}`;
    if (status === 401 || status === 403) return this.failure('auth', `${where} refused the webhook (${said}); check its URL and headers`);
    if (status === 404 || status === 410) return this.failure('rejected', `${where} has no such webhook (${said}); check its URL`);
    if (status === 429 || status >= 500) return this.failure('server_error', `${where} could not take the webhook now (${said})`);
    if (status >= 300 && status < 400) return this.failure('rejected', `${where} answered with a redirect (${said}), which is not followed; use the final URL`);
    return this.failure('rejected', `${where} refused the webhook (${said})`);
  }

  /** fetch's errors: a TimeoutError, or "fetch failed" with the socket error as its cause. */
  private unreachable(err: unknown): NotifyError {
    const where = urlOrigin(this.hook.url);
    if ((err as { name?: string }).name === 'TimeoutError') return this.failure('timeout', `${where} did not answer within ${this.hook.timeout}s`, err);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? '';
    const detail = scrub(cause?.message ?? messageOf(err), this.secrets());
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return this.failure('dns', `cannot resolve the host of ${where}: ${detail}`, err);
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return this.failure('timeout', `cannot connect to ${where} within the timeout: ${detail}`, err);
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ERR_SSL|ERR_TLS/.test(code))
      return this.failure('tls', `TLS with ${where} failed: ${detail} (a private CA: NODE_EXTRA_CA_CERTS)`, err);
    return this.failure('connection', `cannot reach ${where}: ${detail}`, err);
  }
}
