/**
 * The `notify` section of the config schema: where renewal events go (e-mail over SMTP, webhooks),
 * which events each channel gets, and the outbox's dedupe, digest, retry and age limits.
 * docs/config.md ("Notifications") documents each key. The SMTP password is never a value here
 * (it comes from `passwordFile` or XMPP_CERT_SMTP_PASSWORD); webhook URLs and header values are
 * marked `secret` (config/secret.ts), so no output or error shows them. Paths stay relative here;
 * resolveNotifyPaths() resolves them for load.ts. Does not read files or the environment.
 */
import { z } from 'zod';
import { duration, email, flag, list, section, show, text, url, wholeNumber } from './fields';
import { secret } from './secret';
import { urlOrigin } from '../shared/secrets';

export const NOTIFY_EVENT_TYPES = ['renewal_succeeded', 'renewal_failed', 'fallback_in_use', 'verify_failed'] as const;
export type NotifyEventType = (typeof NOTIFY_EVENT_TYPES)[number];

export const WEBHOOK_FORMATS = ['slack', 'discord', 'generic'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => `expected one of ${values.join(', ')}, got ${show(iss.input)}` });

/** Which events a channel gets; every type by default. */
const events = () => list(oneOf(NOTIFY_EVENT_TYPES)).default([...NOTIFY_EVENT_TYPES]);

const port = () => wholeNumber(1).refine((n) => n <= 65535, { error: 'expected a port from 1 to 65535' });

/** The local MTA (the seed's `mail` command went there): mail to it never leaves the machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** A key that must not be used; the message never shows the value (it may be a secret). */
const refused = (message: string) =>
  z
    .unknown()
    .superRefine((_v, ctx) => ctx.addIssue({ code: 'custom', message }))
    .optional();

const emailSettings = section({
  /** Unset: renewal.email (LETSENCRYPT_EMAIL), when `host` is set. */
  to: email().optional(),
  /** Unset: xmpp-cert@<this host's name>. */
  from: email().optional(),
  /** Unset: localhost (the local MTA). */
  host: text().optional(),
  /** Unset: 465 with `secure`, 25 to a loopback host, else 587. */
  port: port().optional(),
  /** Implicit TLS from the first byte (SMTPS, usually port 465). */
  secure: flag().default(false),
  /** STARTTLS must succeed with a verified certificate. Unset: true, except to a loopback host. */
  requireTLS: flag().optional(),
  /** CA certificate files trusted for the SMTP server's certificate (a private CA). */
  ca: list(text()).default([]),
  user: text().optional(),
  passwordFile: text().optional(),
  password: secret(refused('a password is never kept in the config file: put it in a file named by notify.email.passwordFile, or in XMPP_CERT_SMTP_PASSWORD')),
  timeout: duration(1).default(30),
  events: events(),
}).superRefine((e, ctx) => {
  const host = e.host ?? 'localhost';
  if (e.user !== undefined && !e.secure && e.requireTLS === false && !isLoopback(host)) {
    ctx.addIssue({
      code: 'custom',
      path: ['requireTLS'],
      message: `false would send the password for ${e.user} unencrypted to ${host}; use secure: true or requireTLS: true`,
    });
  }
});

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Header values are often tokens (Authorization): errors never show them. */
const headers = () =>
  z.record(
    z.string().regex(HEADER_NAME, { error: (iss) => `expected an HTTP header name, got ${show(iss.input)}` }),
    z
      .string({ error: 'expected a string (the value is not shown: it may be a secret)' })
      .regex(/^[^\r\n]*$/, { error: 'expected a single line (the value is not shown: it may be a secret)' }),
    {
      error: (iss) =>
        iss.code === 'invalid_key'
          ? `expected an HTTP header name (letters, digits, -), got ${show(iss.input)}`
          : `expected a mapping of header names to values, got ${show(iss.input)}`,
    },
  );

/** Slack's and Discord's own webhook URLs need their format; anything else gets the event JSON. */
export function defaultFormat(webhookUrl: string): WebhookFormat {
  const u = new URL(webhookUrl);
  if (u.hostname === 'hooks.slack.com') return 'slack';
  if (/(^|\.)discord(app)?\.com$/.test(u.hostname) && u.pathname.startsWith('/api/webhooks/')) return 'discord';
  return 'generic';
}

const webhook = section({
  url: secret(url(), 'url'),
  /** The channel label in metrics and logs: `webhook:<name>`; unset: `webhook:<index>`. */
  // A letter first: `webhook:0` must stay the label of the first hook without a name.
  name: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,31}$/, { error: (iss) => `expected a short name of a-z, 0-9, _ and - starting with a letter, got ${show(iss.input)}` })
    .optional(),
  /** Unset: slack for hooks.slack.com, discord for discord.com/api/webhooks/, else generic. */
  format: oneOf(WEBHOOK_FORMATS).optional(),
  /** Allow an http:// URL (the body and any token in the URL or headers travel unencrypted). */
  allowInsecure: flag().default(false),
  headers: secret(headers()).default({}),
  timeout: duration(1).default(10),
  events: events(),
})
  .superRefine((hook, ctx) => {
    if (hook.url.startsWith('http:') && !hook.allowInsecure) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: `${urlOrigin(hook.url)}/<redacted>: an http:// URL sends the webhook and its token unencrypted; use https://, or set allowInsecure: true for this webhook`,
      });
    }
  })
  .transform((hook) => ({ ...hook, format: hook.format ?? defaultFormat(hook.url) }));

export const notifySchema = section({
  email: emailSettings.prefault({}),
  webhooks: list(webhook)
    .default([])
    .superRefine((hooks, ctx) => {
      const seen = new Set<string>();
      hooks.forEach((hook, i) => {
        if (hook.name === undefined) return;
        if (seen.has(hook.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${hook.name}" names another webhook too; names must be unique` });
        seen.add(hook.name);
      });
    }),
  /** The same event for the same domain is not sent again within this (a new reason or type is). */
  dedupe: duration(0).default(6 * 3600),
  /** Events within this window after the first one go out together, one message per channel. */
  digestWindow: duration(0).default(60),
  /** A message not delivered within this is dropped (logged and counted). */
  maxAge: duration(60).default(86400),
  /** Retrying a channel that failed: wait `initial`, doubling, up to `max`. */
  retry: section({
    initial: duration(1).default(60),
    max: duration(1).default(3600),
  }).prefault({}),
});

export type NotifyConfig = z.output<typeof notifySchema>;
export type EmailConfig = NotifyConfig['email'];
export type WebhookConfig = NotifyConfig['webhooks'][number];

/** The section's paths resolved against the config file's directory (load.ts). */
export function resolveNotifyPaths(notify: NotifyConfig, abs: (p: string) => string): NotifyConfig {
  const { passwordFile, ca } = notify.email;
  return { ...notify, email: { ...notify.email, ca: ca.map(abs), ...(passwordFile ? { passwordFile: abs(passwordFile) } : {}) } };
}
