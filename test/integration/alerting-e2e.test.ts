/**
 * The alerting chain end to end, every link a real program on loopback: the exporter (`xmpp-cert
 * serve`) watching certificate files minted now, Prometheus scraping it every second with the
 * shipped rules, Alertmanager with the shipped routes, inhibit rules and templates, an SMTP server
 * of the test's own (STARTTLS with a certificate minted now, AUTH) and an HTTP receiver standing in
 * for Slack's webhook.
 *
 * crit.test expires inside the critical threshold, so XmppCertExpiringWarning and
 * XmppCertExpiringCritical (and XmppCertRenewalOverdue) all fire for it; warn.test is only inside
 * the warning threshold. Proven: the critical reaches e-mail and Slack, warn.test's warning reaches
 * both too, and crit.test's warnings are never sent (Alertmanager holds them as inhibited).
 *
 * What differs from production, in temp copies only: every `for:` in the rules becomes 0s (the real
 * ones are minutes to a day); in alertmanager.yml the smarthost, the secret files, the webhook URL,
 * the SMTP server's CA (tls_config) and group_wait/group_interval (1s). Routes, inhibit rules and
 * templates are the shipped ones.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { startAlertmanager, alertmanagerBinary, type RunningAlertmanager } from '../helpers/alertmanager-server';
import { DAY, makeCA, mint } from '../helpers/certs';
import { startCli, waitFor } from '../helpers/process';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus-server';
import { startSmtpCapture, type SmtpCapture } from '../helpers/smtp-capture';
import { describeWithTools } from '../helpers/tools';
import { startWebhookCapture, type WebhookCapture } from '../helpers/webhook-capture';

const ROOT = path.resolve(__dirname, '../..');

interface SlackAttachment {
  title?: string;
  text?: string;
  color?: string;
}
interface SlackMessage {
  channel?: string;
  attachments?: SlackAttachment[];
}

/** The shipped rules with every `for:` set to 0s: alerts fire on the first evaluation. */
function rulesWithoutFor(dir: string): string {
  const text = fs.readFileSync(path.join(ROOT, 'prometheus/rules/xmpp-cert.rules.yml'), 'utf8');
  const rewritten = text.replace(/^(\s+for:\s*)\S+$/gm, '$10s');
  if (rewritten === text) throw new Error('no `for:` found to rewrite');
  const file = path.join(dir, 'xmpp-cert.rules.yml');
  fs.writeFileSync(file, rewritten);
  return file;
}

interface Receivers {
  smtpPort: number;
  smtpPasswordFile: string;
  caFile: string;
  slackUrlFile: string;
  webhookUrl: string;
}

/** The shipped alertmanager.yml with only addresses, secrets, the SMTP server's CA and timings changed. */
function alertmanagerConfig(dir: string, r: Receivers): string {
  const config = YAML.parse(fs.readFileSync(path.join(ROOT, 'alertmanager/alertmanager.yml'), 'utf8'));
  config.global.smtp_smarthost = `127.0.0.1:${r.smtpPort}`;
  config.global.smtp_auth_password_file = r.smtpPasswordFile;
  config.templates = [path.join(ROOT, 'alertmanager/templates/*.tmpl')];
  config.route.group_wait = '1s';
  config.route.group_interval = '1s';
  for (const receiver of config.receivers) {
    for (const email of receiver.email_configs ?? []) email.tls_config = { ca_file: r.caFile, server_name: 'localhost' };
    for (const slack of receiver.slack_configs ?? []) slack.api_url_file = r.slackUrlFile;
    for (const hook of receiver.webhook_configs ?? []) hook.url = r.webhookUrl;
  }
  const file = path.join(dir, 'alertmanager.yml');
  fs.writeFileSync(file, YAML.stringify(config));
  return file;
}

describeWithTools(['prometheus', alertmanagerBinary()], 'alerting end to end: exporter -> Prometheus -> Alertmanager -> e-mail and Slack', () => {
  jest.setTimeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-alerting-'));
  const stopAll: Array<() => Promise<unknown>> = [];
  let smtp: SmtpCapture;
  let hooks: WebhookCapture;
  let prometheus: RunningPrometheus;
  let alertmanager: RunningAlertmanager;
  const smtpUser = 'alertmanager@example.org'; // the shipped smtp_auth_username
  const smtpPassword = 'test-only-password';

  const slackMessages = () => hooks.received.filter((h) => h.path === '/slack').map((h) => h.body as SlackMessage);
  const slackTitles = () => slackMessages().flatMap((m) => (m.attachments ?? []).map((a) => a.title ?? ''));
  const subjects = () => smtp.mails.map((m) => m.parsed.subject ?? '');

  beforeAll(async () => {
    const started = Date.now();
    const ca = await makeCA('Alerting Test CA');
    const caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, ca.pem);

    // The SMTP server's certificate, for the name Alertmanager checks (tls_config.server_name).
    const smtpCert = await mint({ names: ['localhost'], notAfter: DAY, issuer: ca });
    smtp = await startSmtpCapture({ tls: { cert: smtpCert.pem, key: smtpCert.keyPem }, auth: { user: smtpUser, password: smtpPassword } });
    stopAll.push(() => smtp.stop());
    hooks = await startWebhookCapture();
    stopAll.push(() => hooks.stop());

    // Certificates in Prosody's layout: crit.test 2 days left (critical 5d), warn.test 10 days (warning 14d).
    const certs = path.join(dir, 'certs');
    for (const [domain, days] of [
      ['crit.test', 2],
      ['warn.test', 10],
    ] as const) {
      const leaf = await mint({ names: [domain], notBefore: -60 * DAY, notAfter: days * DAY, issuer: ca });
      fs.mkdirSync(path.join(certs, domain), { recursive: true });
      fs.writeFileSync(path.join(certs, domain, 'fullchain.pem'), leaf.pem + ca.pem);
      fs.writeFileSync(path.join(certs, domain, 'privkey.pem'), leaf.keyPem, { mode: 0o600 });
    }
    const exporterConfig = path.join(dir, 'xmpp-cert.yml');
    fs.writeFileSync(
      exporterConfig,
      JSON.stringify({
        prosody: { config: null, certs },
        domains: ['crit.test', 'warn.test'],
        thresholds: { warning: 14, critical: 5, renewal: 30 },
        scan: { interval: '1s' },
        probes: { enabled: false },
        renewal: { stateDir: path.join(dir, 'state') },
      }),
    );
    const exporter = await startCli(['serve', '--config', exporterConfig, '--listen', '127.0.0.1:0']);
    stopAll.push(exporter.stop);

    // Secrets as files, as in production (mode 0600: Alertmanager only reads them).
    const smtpPasswordFile = path.join(dir, 'smtp_password');
    fs.writeFileSync(smtpPasswordFile, smtpPassword, { mode: 0o600 });
    const slackUrlFile = path.join(dir, 'slack_api_url');
    fs.writeFileSync(slackUrlFile, hooks.url('/slack'), { mode: 0o600 });
    alertmanager = await startAlertmanager({
      configFile: alertmanagerConfig(dir, { smtpPort: smtp.port, smtpPasswordFile, caFile, slackUrlFile, webhookUrl: hooks.url('/webhook') }),
    });
    stopAll.push(alertmanager.stop);

    prometheus = await startPrometheus({
      scrapeTargets: [new URL(exporter.url).host],
      jobName: 'xmpp-cert',
      scrapeInterval: '1s',
      evaluationInterval: '1s',
      ruleFiles: [rulesWithoutFor(dir)],
      alertmanagerUrl: alertmanager.url,
    });
    stopAll.push(prometheus.stop);

    console.log(`exporter, Alertmanager and Prometheus ready in ${Date.now() - started} ms`);
  });

  afterAll(async () => {
    for (const stop of stopAll.reverse()) await stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('both severities fire for crit.test in Prometheus', async () => {
    const firing = await waitFor(
      async () => {
        const alerts = (await prometheus.alerts()).filter((a) => a.state === 'firing' && a.labels.domain === 'crit.test');
        const names = new Set(alerts.map((a) => a.labels.alertname));
        return names.has('XmppCertExpiringWarning') && names.has('XmppCertExpiringCritical') ? alerts : undefined;
      },
      20_000,
      'XmppCertExpiringWarning and XmppCertExpiringCritical firing for crit.test',
    );
    expect(firing.find((a) => a.labels.alertname === 'XmppCertExpiringCritical')!.annotations.summary).toMatch(/^Certificate for crit\.test expires in 1d 23h/);
    // The thresholds the rules compare with are the exporter's config (5 days critical).
    const thresholds = await prometheus.query('xmpp_cert_threshold_seconds{job="xmpp-cert",level="critical"}');
    expect(thresholds.map((s) => [s.metric.domain, s.value[1]]).sort()).toEqual([
      ['crit.test', '432000'],
      ['warn.test', '432000'],
    ]);
  });

  test('the critical alert reaches e-mail (STARTTLS, AUTH with the password file) and Slack at once', async () => {
    const mail = await waitFor(
      () => smtp.mails.find((m) => /^\[CRITICAL\] .*crit\.test/.test(m.parsed.subject ?? '')),
      20_000,
      `a critical e-mail for crit.test (got: ${subjects().join(' | ')})`,
    );
    expect(mail.secure).toBe(true);
    expect(mail.user).toBe(smtpUser);
    expect(smtp.failedLogins).toEqual([]);
    expect(mail.envelopeTo).toEqual(['xmpp-admins@example.org']);
    expect(mail.parsed.subject).toMatch(/^\[CRITICAL\] Certificate for crit\.test expires in 1d 23h/);
    expect(mail.parsed.text).toContain('inside the critical threshold');
    expect(mail.parsed.text).toContain('runbook: docs/runbook.md#xmppcertexpiringcritical');
    expect(mail.parsed.html).toContain('<a href="docs/runbook.md#xmppcertexpiringcritical">');

    const slack = await waitFor(
      () => slackMessages().find((m) => m.attachments?.some((a) => /^\[CRITICAL\] .*crit\.test/.test(a.title ?? ''))),
      10_000,
      `a critical Slack message for crit.test (got: ${slackTitles().join(' | ')})`,
    );
    expect(slack.channel).toBe('#xmpp-alerts');
    const attachment = slack.attachments![0]!;
    expect(attachment.color).toBe('danger');
    expect(attachment.text).toContain('*Certificate for crit.test expires in 1d 23h');
    expect(attachment.text).toContain('Runbook: docs/runbook.md#xmppcertexpiringcritical');
  });

  test('a warning alone (warn.test) reaches Slack and e-mail', async () => {
    await waitFor(
      () => subjects().some((s) => /^\[WARNING\] Certificate for warn\.test expires in 9d 23h/.test(s)),
      20_000,
      `a warning e-mail for warn.test (got: ${subjects().join(' | ')})`,
    );
    await waitFor(
      () => slackTitles().some((t) => /^\[WARNING\] Certificate for warn\.test/.test(t)),
      10_000,
      `a warning Slack message for warn.test (got: ${slackTitles().join(' | ')})`,
    );
  });

  test('for crit.test only the critical notification is sent: its warnings are inhibited', async () => {
    // By now warn.test's warnings went out (the test above), so crit.test's would have too. Give
    // Alertmanager a few more group intervals anyway.
    await new Promise((r) => setTimeout(r, 4000));
    const inhibited = (await alertmanager.alerts()).filter((a) => a.labels.domain === 'crit.test' && a.labels.severity === 'warning');
    expect(inhibited.map((a) => a.labels.alertname).sort()).toEqual(['XmppCertExpiringWarning', 'XmppCertRenewalOverdue']);
    for (const alert of inhibited) {
      expect(alert.status.state).toBe('suppressed');
      expect(alert.status.inhibitedBy.length).toBeGreaterThan(0);
    }
    const aboutCrit = [...subjects(), ...slackTitles()].filter((s) => s.includes('crit.test'));
    expect(aboutCrit.length).toBeGreaterThanOrEqual(2);
    expect(aboutCrit.filter((s) => !s.startsWith('[CRITICAL]'))).toEqual([]);
    // No worker runs here: no page about its heartbeat (the exporter shows 0 for "never").
    expect([...subjects(), ...slackTitles()].filter((s) => /heartbeat/i.test(s))).toEqual([]);
    // Nothing reached the catch-all webhook: every alert here has a severity.
    expect(hooks.received.filter((h) => h.path === '/webhook')).toEqual([]);
  });
});
