/**
 * The alerting chain as an on-call rotation lives with it, every link a real program on loopback:
 * the exporter (`xmpp-cert serve`) over certificate files and live direct-TLS endpoints, Prometheus
 * 2.42 scraping and evaluating every second with the shipped rules, Alertmanager 0.25 with the
 * shipped routes, inhibit rules and templates, an SMTP server and a Slack stand-in.
 *
 * The fixture: crit.test expires in 2 days (critical 5d); chain.test's leaf is fine but its
 * intermediate expires in 3 days; early.test's certificate is valid only from tomorrow; and a
 * leftover expired file with ok.test's name that Prosody uses for nothing (ok.test has its own).
 * crit.test, chain.test and early.test are also served, so each has a file alert and an endpoint
 * alert. Proven: each cause reaches e-mail and Slack exactly once, as one notification listing the
 * file and the endpoint; the alerts that say the same again (warning beside critical, renewal
 * overdue, not trusted beside not yet valid) are held back; the leftover gets its own warning and
 * no critical page.
 *
 * Then the exporter is stopped for 2 real minutes and started again on the same port. Proven: no
 * resolved message, no repeat (repeat_interval is the shipped 3h), Prometheus keeps every alert
 * active with the same start, and XmppCertExporterDown (5 minutes) does not fire.
 *
 * What differs from production, in temp copies (test/helpers/alerting.ts): every `for:` becomes 0s
 * except XmppCertExporterDown's and XmppCertExporterAbsent's, which the outage must not reach;
 * group_wait 10s (the shipped 30s would only make the test slower; it covers the first probe round,
 * so file and endpoint alerts start in one notification) and group_interval 2s (the shipped 5m
 * would hide a resolved or re-sent message until after the test looked). The gap window (10m) and
 * the outage (2m) are the real ones: scaled down, Prometheus's own fixed times (the 5m lookback,
 * the 1m resend to Alertmanager) would no longer be in proportion.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { alertmanagerConfig, rulesWithoutFor, sinks } from '../helpers/alerting';
import { startAlertmanager, alertmanagerBinary, type RunningAlertmanager } from '../helpers/alertmanager-server';
import { DAY, makeCA, makeIntermediate, mint, type Minted } from '../helpers/certs';
import { startCli, waitFor, type Running } from '../helpers/process';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus-server';
import { startSmtpCapture, type SmtpCapture } from '../helpers/smtp-capture';
import { describeWithTools } from '../helpers/tools';
import { startWebhookCapture, type WebhookCapture } from '../helpers/webhook-capture';

const OUTAGE_MS = 120_000;

/** A direct-TLS endpoint (XEP-0368 style) serving `chain`; the probe needs only the handshake. */
async function startTlsEndpoint(leaf: Minted, chain: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = tls.createServer({ key: leaf.keyPem, cert: chain }, (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describeWithTools(['prometheus', alertmanagerBinary()], 'alerting through an exporter restart: one message per cause, none again', () => {
  jest.setTimeout(OUTAGE_MS + 90_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-outage-'));
  const stopAll: Array<() => Promise<unknown>> = [];
  let smtp: SmtpCapture;
  let hooks: WebhookCapture;
  let prometheus: RunningPrometheus;
  let alertmanager: RunningAlertmanager;
  let exporter: Running;
  let exporterArgs: string[];
  const ports: Record<string, number> = {};
  const certs = path.join(dir, 'certs');
  const got = () => sinks(smtp, hooks);
  const messages = () => [
    ...got()
      .subjects()
      .map((s) => `mail ${s}`),
    ...got()
      .slackTitles()
      .map((t) => `slack ${t}`),
  ];

  beforeAll(async () => {
    const root = await makeCA('Outage Test Root');
    const caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, root.pem);
    const smtpCert = await mint({ names: ['localhost'], notAfter: DAY, issuer: root });
    smtp = await startSmtpCapture({ tls: { cert: smtpCert.pem, key: smtpCert.keyPem }, auth: { user: 'alertmanager@example.org', password: 'pw' } });
    stopAll.push(() => smtp.stop());
    hooks = await startWebhookCapture();
    stopAll.push(() => hooks.stop());

    const intermediate = await makeIntermediate(root, 'Outage Test Intermediate', 3 * DAY);
    const write = (domain: string, pem: string, keyPem: string) => {
      fs.mkdirSync(path.join(certs, domain), { recursive: true });
      fs.writeFileSync(path.join(certs, domain, 'fullchain.pem'), pem);
      fs.writeFileSync(path.join(certs, domain, 'privkey.pem'), keyPem, { mode: 0o600 });
    };
    const crit = await mint({ names: ['crit.test'], notBefore: -60 * DAY, notAfter: 2 * DAY, issuer: root });
    const chain = await mint({ names: ['chain.test'], notBefore: -10 * DAY, notAfter: 60 * DAY, issuer: intermediate });
    const early = await mint({ names: ['early.test'], notBefore: DAY, notAfter: 90 * DAY, issuer: root });
    const ok = await mint({ names: ['ok.test'], notBefore: -10 * DAY, notAfter: 60 * DAY, issuer: root });
    write('crit.test', crit.pem, crit.keyPem);
    write('chain.test', chain.pem + intermediate.pem, chain.keyPem);
    write('early.test', early.pem, early.keyPem);
    write('ok.test', ok.pem, ok.keyPem);
    // A leftover: an expired certificate for ok.test that Prosody does not use (ok.test/fullchain.pem wins).
    const leftover = await mint({ names: ['ok.test'], notBefore: -100 * DAY, notAfter: -DAY, issuer: root });
    fs.writeFileSync(path.join(certs, 'leftover.pem'), leftover.pem);

    const endpoints = [];
    for (const [domain, leaf, pem] of [
      ['crit.test', crit, crit.pem],
      ['chain.test', chain, chain.pem + intermediate.pem],
      ['early.test', early, early.pem],
    ] as const) {
      const endpoint = await startTlsEndpoint(leaf, pem);
      stopAll.push(endpoint.close);
      ports[domain] = endpoint.port;
      endpoints.push({ domain, host: '127.0.0.1', port: endpoint.port, service: 'c2s', tls: 'direct' });
    }
    const exporterConfig = path.join(dir, 'xmpp-cert.yml');
    fs.writeFileSync(
      exporterConfig,
      JSON.stringify({
        prosody: { config: null, certs },
        domains: ['crit.test', 'chain.test', 'early.test', 'ok.test'],
        thresholds: { warning: 14, critical: 5, renewal: 30 },
        scan: { interval: '1s' },
        probes: { srv: false, interval: '10s', timeout: '2s', ca: [caFile], endpoints },
        renewal: { stateDir: path.join(dir, 'state') },
      }),
    );
    exporter = await startCli(['serve', '--config', exporterConfig, '--listen', '127.0.0.1:0']);
    // The restart listens where Prometheus scrapes: the same port.
    exporterArgs = ['serve', '--config', exporterConfig, '--listen', new URL(exporter.url).host];
    stopAll.push(() => exporter.stop());

    alertmanager = await startAlertmanager({
      configFile: alertmanagerConfig(dir, { smtp, smtpPassword: 'pw', caFile, hooks }, { group_wait: '10s', group_interval: '2s' }),
    });
    stopAll.push(alertmanager.stop);
    prometheus = await startPrometheus({
      scrapeTargets: [new URL(exporter.url).host],
      jobName: 'xmpp-cert',
      ruleFiles: [rulesWithoutFor(dir, ['XmppCertExporterDown', 'XmppCertExporterAbsent'])],
      alertmanagerUrl: alertmanager.url,
    });
    stopAll.push(prometheus.stop);
  });

  afterAll(async () => {
    for (const stop of stopAll.reverse()) await stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Firing alerts in Prometheus, as "name severity domain source position" lines, with their start. */
  const firing = async () =>
    (await prometheus.alerts())
      .filter((a) => a.state === 'firing')
      .map((a) => ({
        key: [a.labels.alertname, a.labels.severity, a.labels.domain, a.labels.source, a.labels.position ?? '-'].join(' '),
        activeAt: a.activeAt,
      }))
      .sort((a, b) => a.key.localeCompare(b.key));

  const EXPECTED_FIRING = [
    'XmppCertChainExpiring critical chain.test c2s_tls 1',
    'XmppCertChainExpiring critical chain.test file 1',
    'XmppCertChainExpiring warning chain.test c2s_tls 1',
    'XmppCertChainExpiring warning chain.test file 1',
    'XmppCertExpiringCritical critical crit.test c2s_tls 0',
    'XmppCertExpiringCritical critical crit.test file 0',
    'XmppCertExpiringWarning warning crit.test c2s_tls 0',
    'XmppCertExpiringWarning warning crit.test file 0',
    'XmppCertNotTrusted critical early.test c2s_tls -',
    'XmppCertNotYetValid critical early.test c2s_tls 0',
    'XmppCertNotYetValid critical early.test file 0',
    'XmppCertRenewalOverdue warning crit.test file 0',
    'XmppCertUnusedFileInvalid warning ok.test file 0',
  ];
  const EXPECTED_MESSAGES = [
    'mail [CRITICAL] A chain certificate for chain.test is inside its critical threshold',
    'mail [CRITICAL] Certificate for crit.test is inside its critical threshold',
    'mail [CRITICAL] Certificate for early.test is not valid yet',
    `mail [WARNING] Unused certificate file ${path.join(certs, 'leftover.pem')} is expired`,
    'slack [CRITICAL] A chain certificate for chain.test is inside its critical threshold',
    'slack [CRITICAL] Certificate for crit.test is inside its critical threshold',
    'slack [CRITICAL] Certificate for early.test is not valid yet',
    `slack [WARNING] Unused certificate file ${path.join(certs, 'leftover.pem')} is expired`,
  ];
  let before: Array<{ key: string; activeAt?: string }>;

  test('every cause fires in Prometheus, for the file and the endpoint; the leftover only as unused', async () => {
    before = await waitFor(
      async () => {
        const now = await firing();
        return now.length === EXPECTED_FIRING.length ? now : undefined;
      },
      30_000,
      'the expected alerts to fire',
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; firing: ${(await firing()).map((a) => a.key).join(' | ')}`);
    });
    expect(before.map((a) => a.key)).toEqual(EXPECTED_FIRING);
  });

  test('each cause reaches e-mail and Slack exactly once, as one message listing file and endpoint', async () => {
    await waitFor(() => messages().length >= EXPECTED_MESSAGES.length, 30_000, `${EXPECTED_MESSAGES.length} messages (got: ${messages().join(' | ')})`);
    // A few more group intervals: nothing else arrives (the held-back alerts stay held back).
    await new Promise((r) => setTimeout(r, 5000));
    expect(messages().sort()).toEqual(EXPECTED_MESSAGES);
    const mail = (subject: string) => smtp.mails.find((m) => m.parsed.subject === subject)!;
    const crit = mail('[CRITICAL] Certificate for crit.test is inside its critical threshold').parsed.text ?? '';
    expect(crit).toContain(`seen at: file ${path.join(certs, 'crit.test', 'fullchain.pem')}`);
    expect(crit).toContain(`seen at: c2s_tls 127.0.0.1:${ports['crit.test']}`);
    const chain = mail('[CRITICAL] A chain certificate for chain.test is inside its critical threshold').parsed.text ?? '';
    expect(chain).toContain('chain certificate at position 1');
    expect(chain).toContain('(CN=Outage Test Intermediate, issued by CN=Outage Test Root)');
    expect(chain).toContain(`seen at: c2s_tls 127.0.0.1:${ports['chain.test']}`);
    const early = mail('[CRITICAL] Certificate for early.test is not valid yet').parsed.text ?? '';
    expect(early).toMatch(/becomes valid only in 23h 5\d+m/);
    // Not trusted (the same endpoint, not valid yet) is held back, not lost.
    const held = (await alertmanager.alerts()).filter((a) => a.status.state === 'suppressed').map((a) => `${a.labels.alertname} ${a.labels.domain}`);
    expect(held.sort()).toEqual([
      'XmppCertChainExpiring chain.test',
      'XmppCertChainExpiring chain.test',
      'XmppCertExpiringWarning crit.test',
      'XmppCertExpiringWarning crit.test',
      'XmppCertNotTrusted early.test',
      'XmppCertRenewalOverdue crit.test',
    ]);
  });

  test('the exporter down for 2 minutes: no resolved message, no repeat, the same alerts with the same start', async () => {
    const sent = messages().length;
    const received = hooks.received.length;
    await exporter.stop();
    const stoppedAt = Date.now();
    await waitFor(async () => (await prometheus.query('up{job="xmpp-cert"} == 0')).length === 1, 10_000, 'Prometheus to see the exporter down');
    // Halfway and at the end of the outage the alerts are all still firing.
    await new Promise((r) => setTimeout(r, OUTAGE_MS / 2));
    expect((await firing()).map((a) => a.key)).toEqual(EXPECTED_FIRING);
    await new Promise((r) => setTimeout(r, stoppedAt + OUTAGE_MS - Date.now()));
    expect((await firing()).map((a) => a.key)).toEqual(EXPECTED_FIRING);
    expect(await prometheus.query('ALERTS{alertname="XmppCertExporterDown",alertstate="firing"}')).toEqual([]);

    exporter = await startCli(exporterArgs);
    await waitFor(async () => (await prometheus.query('up{job="xmpp-cert"} == 1')).length === 1, 15_000, 'Prometheus to scrape the exporter again');
    // The restarted exporter probes again (a round every 10s) and Alertmanager has had several
    // group intervals (2s) to send anything that changed.
    await waitFor(async () => (await prometheus.query('count(xmpp_cert_trusted)'))[0]?.value[1] === '3', 20_000, 'the endpoints probed again');
    await new Promise((r) => setTimeout(r, 10_000));

    const after = await firing();
    expect(after).toEqual(before);
    expect(messages().length).toBe(sent);
    expect(hooks.received.length).toBe(received);
    expect(hooks.received.filter((h) => JSON.stringify(h.body).includes('RESOLVED'))).toEqual([]);
    expect(await prometheus.query('ALERTS{alertname="XmppCertExporterDown"}')).toEqual([]);
  });
});
