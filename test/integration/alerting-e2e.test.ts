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
 * What differs from production, in temp copies only (test/helpers/alerting.ts): every `for:` in
 * the rules becomes 0s (the real ones are minutes to an hour); in alertmanager.yml the smarthost,
 * the secret files, the webhook URL, the SMTP server's CA (tls_config) and group_wait/group_interval
 * (1s). Routes, inhibit rules and templates are the shipped ones. alerting-outage.test.ts stops
 * the exporter while alerts fire.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alertmanagerConfig, rulesWithoutFor, sinks } from '../helpers/alerting';
import { startAlertmanager, alertmanagerBinary, type RunningAlertmanager } from '../helpers/alertmanager-server';
import { DAY, makeCA, mint } from '../helpers/certs';
import { startCli, waitFor } from '../helpers/process';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus-server';
import { startSmtpCapture, type SmtpCapture } from '../helpers/smtp-capture';
import { describeWithTools } from '../helpers/tools';
import { startWebhookCapture, type WebhookCapture } from '../helpers/webhook-capture';

const RUNBOOK = 'https://git.example.org/ops/xmpp-cert-exporter/-/blob/main/docs/runbook.md';

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

  const slackMessages = () => sinks(smtp, hooks).slackMessages();
  const slackTitles = () => sinks(smtp, hooks).slackTitles();
  const subjects = () => sinks(smtp, hooks).subjects();

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

    alertmanager = await startAlertmanager({
      configFile: alertmanagerConfig(dir, { smtp, smtpPassword: smtpPassword, caFile, hooks }, { group_wait: '1s', group_interval: '1s' }),
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
    const critical = firing.find((a) => a.labels.alertname === 'XmppCertExpiringCritical')!;
    expect(critical.annotations.summary).toBe('Certificate for crit.test is inside its critical threshold');
    expect(critical.annotations.description).toMatch(/ for crit\.test expires in 1d 23h/);
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
    // The subject stays the same on every repeat (no ticking time left); the body has it.
    expect(mail.parsed.subject).toBe('[CRITICAL] Certificate for crit.test is inside its critical threshold');
    expect(mail.parsed.text).toMatch(/expires in 1d 23h.*inside the critical threshold/);
    expect(mail.parsed.text).toContain(`runbook: ${RUNBOOK}#xmppcertexpiringcritical`);
    expect(mail.parsed.html).toContain(`<a href="${RUNBOOK}#xmppcertexpiringcritical">`);
    expect(mail.parsed.text).toContain(
      `Silence:      ${alertmanager.url}/#/silences/new?filter=%7Balertname%3D%22XmppCertExpiringCritical%22%2Cdomain%3D%22crit.test%22%7D`,
    );
    expect(mail.parsed.headers.get('references')).toBe('<XmppCertExpiringCritical-crit-test@xmpp-cert.alertmanager>');

    const slack = await waitFor(
      () => slackMessages().find((m) => m.attachments?.some((a) => /^\[CRITICAL\] .*crit\.test/.test(a.title ?? ''))),
      10_000,
      `a critical Slack message for crit.test (got: ${slackTitles().join(' | ')})`,
    );
    expect(slack.channel).toBe('#xmpp-alerts');
    const attachment = slack.attachments![0]!;
    expect(attachment.color).toBe('danger');
    expect(attachment.title).toBe('[CRITICAL] Certificate for crit.test is inside its critical threshold');
    expect(attachment.text).toMatch(/for crit\.test expires in 1d 23h/);
    expect(attachment.text).toContain(`Runbook: ${RUNBOOK}#xmppcertexpiringcritical`);
  });

  test('a warning alone (warn.test) reaches Slack and e-mail', async () => {
    await waitFor(
      () => subjects().some((s) => s === '[WARNING] Certificate for warn.test is inside its warning threshold'),
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
