/**
 * The e-mail channel: one message per send, over SMTP with nodemailer (a fresh connection each
 * time: messages are rare, and a pooled connection would outlive a server restart badly).
 * TLS: implicit (`secure`), or STARTTLS that must succeed against a verified certificate
 * (`requireTLS`, the default except to a loopback host), or opportunistic STARTTLS without
 * verification (`requireTLS: false`, as MTAs do among themselves; the schema refuses a password
 * on that path except to a loopback host). The password is read from `passwordFile` or
 * XMPP_CERT_SMTP_PASSWORD at each send, so a changed file needs no restart; it is handed to
 * nodemailer only and scrubbed from any server text that reaches an error message.
 * nodemailer's errors become NotifyErrors whose message says what to check.
 */
import fs from 'node:fs';
import nodemailer from 'nodemailer';
import { isLoopback, type EmailConfig, type NotifyEventType } from '../config/notify-schema';
import { messageOf } from '../shared/errors';
import { protectSecrets } from '../shared/log';
import type { Channel } from './channel';
import type { NotifyEvent } from './events';
import { html, plainText, subject } from './format';
import { NotifyError, scrub, type NotifyFailureReason } from './errors';

export const PASSWORD_ENV = 'XMPP_CERT_SMTP_PASSWORD';

export interface EmailSettings extends EmailConfig {
  to: string;
  from: string;
}

/** nodemailer's error fields we read (NodemailerError, without importing its internals). */
interface SmtpFailure {
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  rejected?: string[];
  message?: string;
}

/** TLS errors node reports while verifying the server's certificate. */
const CERT_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER/;

export class EmailChannel implements Channel {
  readonly label = 'email';
  readonly events: ReadonlySet<NotifyEventType>;
  private readonly host: string;
  private readonly port: number;
  private readonly requireTLS: boolean;

  constructor(
    private readonly settings: EmailSettings,
    private readonly env: Record<string, string | undefined> = process.env,
  ) {
    this.events = new Set(settings.events);
    this.host = settings.host ?? 'localhost';
    this.requireTLS = settings.requireTLS ?? !isLoopback(this.host);
    this.port = settings.port ?? (settings.secure ? 465 : isLoopback(this.host) ? 25 : 587);
  }

  describe(): string {
    const tls = this.settings.secure ? 'TLS' : this.requireTLS ? 'STARTTLS' : 'STARTTLS if offered, unverified';
    return `to ${this.settings.to} via ${this.server()} (${tls}${this.settings.user ? `, as ${this.settings.user}` : ''})`;
  }

  async send(events: readonly NotifyEvent[]): Promise<void> {
    const password = this.password();
    const transport = nodemailer.createTransport({
      host: this.host,
      port: this.port,
      secure: this.settings.secure,
      requireTLS: this.requireTLS && !this.settings.secure,
      tls: { ...(this.settings.ca.length > 0 ? { ca: this.readCa() } : {}), ...(this.requireTLS || this.settings.secure ? {} : { rejectUnauthorized: false }) },
      connectionTimeout: this.settings.timeout * 1000,
      greetingTimeout: this.settings.timeout * 1000,
      socketTimeout: this.settings.timeout * 1000,
      ...(this.settings.user ? { auth: { user: this.settings.user, pass: password ?? '' } } : {}),
    });
    try {
      const info = await transport.sendMail({
        from: this.settings.from,
        to: this.settings.to,
        subject: subject(events),
        text: plainText(events),
        html: html(events),
      });
      if (info.rejected.length > 0)
        throw this.failure('recipient', `the SMTP server at ${this.server()} refused the recipient ${info.rejected.join(', ')} (check notify.email.to)`);
    } catch (err) {
      throw err instanceof NotifyError ? err : this.explain(err as SmtpFailure, password);
    } finally {
      transport.close();
    }
  }

  private server(): string {
    return `${this.host}:${this.port}`;
  }

  /** From the file, else the environment; undefined without a user. The logger is told it, so no log line shows it. */
  private password(): string | undefined {
    const password = this.readPassword();
    if (password) protectSecrets({ values: [password] });
    return password;
  }

  private readPassword(): string | undefined {
    const { user, passwordFile } = this.settings;
    if (!user) return undefined;
    if (passwordFile) {
      try {
        return fs.readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw this.failure(
          'config',
          `cannot read notify.email.passwordFile ${passwordFile}: ${messageOf(err)} (check the path and that the worker's user may read it)`,
          err,
        );
      }
    }
    const fromEnv = this.env[PASSWORD_ENV];
    if (fromEnv) return fromEnv;
    throw this.failure('config', `notify.email.user is set (${user}) but there is no password: set notify.email.passwordFile or ${PASSWORD_ENV}`);
  }

  private readCa(): string[] {
    return this.settings.ca.map((file) => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw this.failure('config', `cannot read notify.email.ca ${file}: ${messageOf(err)}`, err);
      }
    });
  }

  private failure(reason: NotifyFailureReason, message: string, cause?: unknown): NotifyError {
    return new NotifyError(message, reason, this.label, cause === undefined ? undefined : { cause });
  }

  /** A NotifyError saying what failed and what to check; server text is scrubbed of the password. */
  private explain(err: SmtpFailure, password: string | undefined): NotifyError {
    const server = this.server();
    const said = scrub((err.response ?? messageOf(err)).trim(), password ? [password] : []);
    const code = err.responseCode;
    const [reason, message] = ((): [NotifyFailureReason, string] => {
      if (err.code === 'EAUTH' || code === 535 || code === 534) {
        return [
          'auth',
          `SMTP authentication failed for user ${this.settings.user ?? '(none)'} at ${server} (check notify.email.user and passwordFile / ${PASSWORD_ENV}): ${said}`,
        ];
      }
      if (code === 530 || err.code === 'ENOAUTH')
        return ['auth', `the SMTP server at ${server} requires a login: set notify.email.user and passwordFile (${said})`];
      if (err.rejected?.length || err.command === 'RCPT TO') {
        return [
          'recipient',
          `the SMTP server at ${server} refused the recipient ${(err.rejected ?? [this.settings.to]).join(', ')} (check notify.email.to): ${said}`,
        ];
      }
      if (err.command === 'MAIL FROM')
        return [
          code !== undefined && code < 500 ? 'server_error' : 'rejected',
          `the SMTP server at ${server} refused the sender ${this.settings.from} (check notify.email.from): ${said}`,
        ];
      if (err.code === 'ETLS' || CERT_CODES.test(err.originalCode ?? '')) {
        return [
          'tls',
          `TLS with the SMTP server at ${server} failed: ${said} (a private CA: notify.email.ca; no STARTTLS offered: secure: true, or requireTLS: false)`,
        ];
      }
      if (err.code === 'EDNS' || err.originalCode === 'ENOTFOUND' || err.originalCode === 'EAI_AGAIN')
        return ['dns', `cannot resolve the SMTP server ${this.host} (check notify.email.host): ${said}`];
      if (err.code === 'ETIMEDOUT') return ['timeout', `the SMTP server at ${server} did not answer within ${this.settings.timeout}s`];
      if (err.code === 'ECONNECTION' || err.code === 'ESOCKET')
        return ['connection', `cannot connect to the SMTP server at ${server}: ${said} (check notify.email.host and port)`];
      if (code !== undefined) return [code >= 500 ? 'rejected' : 'server_error', `the SMTP server at ${server} refused the message: ${said}`];
      return ['unknown', `sending through ${server} failed: ${said}`];
    })();
    return this.failure(reason, message, err);
  }
}
