/**
 * What the end-to-end alerting tests share: a temp copy of the shipped rules with `for:` rewritten
 * (only where a test says), the shipped alertmanager.yml with only addresses, secret files, the SMTP
 * server's CA and timings changed, and readers for what the sinks received (Slack's JSON, e-mail
 * subjects). It starts nothing; the tests start the servers (prometheus-server.ts,
 * alertmanager-server.ts, smtp-capture.ts, webhook-capture.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { SmtpCapture } from './smtp-capture';
import type { WebhookCapture } from './webhook-capture';

const ROOT = path.resolve(__dirname, '../..');
export const RULES_FILE = path.join(ROOT, 'prometheus/rules/xmpp-cert.rules.yml');

/**
 * The shipped rules with every `for:` set to 0s, except those of the alerts named in `keep`:
 * alerts fire on the first evaluation. Written into `dir`; the path is returned.
 */
export function rulesWithoutFor(dir: string, keep: readonly string[] = []): string {
  const doc = YAML.parseDocument(fs.readFileSync(RULES_FILE, 'utf8'));
  let rewritten = 0;
  for (const group of (doc.get('groups') as YAML.YAMLSeq<YAML.YAMLMap>).items) {
    for (const rule of (group.get('rules') as YAML.YAMLSeq<YAML.YAMLMap>).items) {
      if (!rule.has('for') || keep.includes(String(rule.get('alert')))) continue;
      rule.set('for', '0s');
      rewritten++;
    }
  }
  if (rewritten === 0) throw new Error('no `for:` found to rewrite');
  const file = path.join(dir, 'xmpp-cert.rules.yml');
  fs.writeFileSync(file, doc.toString());
  return file;
}

export interface Receivers {
  smtp: SmtpCapture;
  /** The password the SMTP capture expects; written to a 0600 file as in production. */
  smtpPassword: string;
  /** The CA of the SMTP server's certificate. */
  caFile: string;
  /** Slack's messages go to its /slack, the generic webhook's to /webhook. */
  hooks: WebhookCapture;
}

/**
 * The shipped alertmanager.yml with only addresses, secrets (written as files, mode 0600, as in
 * production), the SMTP server's CA and the given route timings changed; written into `dir`.
 */
export function alertmanagerConfig(dir: string, receivers: Receivers, timings: { group_wait: string; group_interval: string }): string {
  const r = {
    smtpPort: receivers.smtp.port,
    smtpPasswordFile: path.join(dir, 'smtp_password'),
    caFile: receivers.caFile,
    slackUrlFile: path.join(dir, 'slack_api_url'),
    webhookUrl: receivers.hooks.url('/webhook'),
  };
  fs.writeFileSync(r.smtpPasswordFile, receivers.smtpPassword, { mode: 0o600 });
  fs.writeFileSync(r.slackUrlFile, receivers.hooks.url('/slack'), { mode: 0o600 });
  const config = YAML.parse(fs.readFileSync(path.join(ROOT, 'alertmanager/alertmanager.yml'), 'utf8'));
  config.global.smtp_smarthost = `127.0.0.1:${r.smtpPort}`;
  config.global.smtp_auth_password_file = r.smtpPasswordFile;
  config.templates = [path.join(ROOT, 'alertmanager/templates/*.tmpl')];
  Object.assign(config.route, timings);
  for (const receiver of config.receivers) {
    for (const email of receiver.email_configs ?? []) email.tls_config = { ca_file: r.caFile, server_name: 'localhost' };
    for (const slack of receiver.slack_configs ?? []) slack.api_url_file = r.slackUrlFile;
    for (const hook of receiver.webhook_configs ?? []) hook.url = r.webhookUrl;
  }
  const file = path.join(dir, 'alertmanager.yml');
  fs.writeFileSync(file, YAML.stringify(config));
  return file;
}

export interface SlackAttachment {
  title?: string;
  text?: string;
  color?: string;
}
export interface SlackMessage {
  channel?: string;
  attachments?: SlackAttachment[];
}

/** What reached the sinks so far: Slack messages (posted to /slack), their titles, e-mail subjects. */
export function sinks(smtp: SmtpCapture, hooks: WebhookCapture) {
  const slackMessages = () => hooks.received.filter((h) => h.path === '/slack').map((h) => h.body as SlackMessage);
  return {
    slackMessages,
    slackTitles: () => slackMessages().flatMap((m) => (m.attachments ?? []).map((a) => a.title ?? '')),
    subjects: () => smtp.mails.map((m) => m.parsed.subject ?? ''),
  };
}
