/**
 * The real exporter process over certificates made by the real openssl: what /metrics exports
 * equals what `openssl x509 -enddate` says; rescans pick up replaced and deleted files; SIGHUP
 * reloads the config (a bad one is refused and kept out); SIGTERM exits cleanly.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { find, parseMetrics, value } from '../helpers/metrics-text';
import { opensslEndDate, opensslSelfSigned } from '../helpers/openssl';
import { startCli, waitFor, type Running } from '../helpers/process';
import { describeWithTools } from '../helpers/tools';

describeWithTools(['openssl'], 'serve: a real process over openssl certificates', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-serve-'));
  const certs = path.join(root, 'certs');
  const extra = path.join(root, 'letsencrypt', 'live');
  const configFile = path.join(root, 'xmpp-cert.yml');
  const goodConfig = [
    'prosody:',
    '  config: null',
    `  certs: ${certs}`,
    'probes:',
    '  enabled: false',
    'domains: [a.example, b.example, c.example]',
    `files: ["${extra}/*/fullchain.pem"]`,
    'scan:',
    '  interval: 1s',
    'thresholds:',
    '  warning: 30',
    '  critical: 7',
    'logging:',
    `  alertLog: ${path.join(root, 'alerts.log')}`,
  ].join('\n');
  let exporter: Running;
  let files: Record<string, string>;

  beforeAll(async () => {
    files = {
      a: opensslSelfSigned(path.join(certs, 'a.example'), ['a.example'], 90, 'fullchain.pem', 'privkey.pem').cert,
      b: opensslSelfSigned(certs, ['b.example'], 20, 'b.example.crt', 'b.example.key').cert,
      le: opensslSelfSigned(path.join(extra, 'chat.example'), ['chat.example'], 5, 'fullchain.pem', 'privkey.pem').cert,
    };
    // A DER file in the certificate directory too.
    files.der = path.join(certs, 'der.example.der');
    execFileSync('openssl', ['x509', '-in', files.a!, '-outform', 'DER', '-out', files.der]);
    fs.writeFileSync(configFile, goodConfig);
    exporter = await startCli(['serve', '--config', configFile, '--listen', '127.0.0.1:0']);
  });

  afterAll(async () => {
    await exporter?.stop();
  });

  const scrape = async () => parseMetrics(await (await fetch(`${exporter.url}/metrics`)).text());

  test('not_after of every file equals openssl -enddate', async () => {
    await waitFor(async () => (await fetch(`${exporter.url}/readyz`)).status === 200, 10_000, '/readyz');
    const samples = await scrape();
    expect(value(samples, 'xmpp_cert_not_after_timestamp_seconds', { domain: 'a.example', target: files.a! })).toBe(opensslEndDate(files.a!));
    expect(value(samples, 'xmpp_cert_not_after_timestamp_seconds', { domain: 'b.example', target: files.b! })).toBe(opensslEndDate(files.b!));
    expect(value(samples, 'xmpp_cert_not_after_timestamp_seconds', { domain: 'chat.example', target: files.le! })).toBe(opensslEndDate(files.le!));
    expect(value(samples, 'xmpp_cert_not_after_timestamp_seconds', { target: files.der! })).toBe(opensslEndDate(files.der!, 'DER'));
  });

  test('domain status follows the thresholds; a domain without a certificate is missing', async () => {
    const samples = await scrape();
    const status = (domain: string) => find(samples, 'xmpp_cert_domain_status', { domain }).find((s) => s.value === 1)?.labels.status;
    expect(status('a.example')).toBe('ok');
    expect(status('b.example')).toBe('warning');
    expect(status('c.example')).toBe('missing');
    expect(value(samples, 'xmpp_cert_threshold_seconds', { domain: 'a.example', level: 'critical' })).toBe(7 * 86400);
    expect(value(samples, 'xmpp_cert_name_covered', { domain: 'a.example' })).toBe(1);
    expect(value(samples, 'xmpp_cert_key_found', { domain: 'b.example' })).toBe(1);
    const report = (await (await fetch(`${exporter.url}/status`)).json()) as {
      overall_status: string;
      domains: Array<{ domain: string; days_left: number | null; file: string | null }>;
    };
    expect(report.overall_status).toBe('missing');
    expect(report.domains.find((d) => d.domain === 'b.example')).toMatchObject({ file: files.b, days_left: 19 });
  });

  const alerts = () =>
    fs.existsSync(path.join(root, 'alerts.log'))
      ? fs
          .readFileSync(path.join(root, 'alerts.log'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { domain: string; from: string; to: string; event: string })
      : [];

  test('status changes at start are alert events in the log and in logging.alertLog', async () => {
    const events = await waitFor(() => (alerts().length >= 2 ? alerts() : undefined), 10_000, 'alert log lines');
    expect(events.map(({ domain, from, to, event }) => ({ domain, from, to, event }))).toEqual([
      { domain: 'b.example', from: 'unknown', to: 'warning', event: 'status_change' },
      { domain: 'c.example', from: 'unknown', to: 'missing', event: 'status_change' },
    ]);
    expect(exporter.output()).toContain('b.example: unknown -> warning');
  });

  test('a replaced file is re-read; a deleted one loses its series', async () => {
    const before = opensslEndDate(files.b!);
    const replacement = opensslSelfSigned(path.join(root, 'new'), ['b.example'], 200);
    // The pair together: a certificate beside a key that is not its own is an error (key_mismatch).
    fs.copyFileSync(replacement.key, path.join(certs, 'b.example.key'));
    fs.copyFileSync(replacement.cert, files.b + '.tmp');
    fs.renameSync(files.b + '.tmp', files.b!);
    const after = opensslEndDate(files.b!);
    expect(after).toBeGreaterThan(before);
    await waitFor(async () => value(await scrape(), 'xmpp_cert_not_after_timestamp_seconds', { target: files.b! }) === after, 10_000, 'the new notAfter');
    // The renewal is a recovery: one more alert event, back to ok.
    expect(alerts().at(-1)).toMatchObject({ domain: 'b.example', from: 'warning', to: 'ok' });

    fs.rmSync(files.der!);
    await waitFor(
      async () => find(await scrape(), 'xmpp_cert_not_after_timestamp_seconds', { target: files.der! }).length === 0,
      10_000,
      'the DER series to go',
    );
  });

  test('SIGHUP with a bad config keeps the old one; a good one is applied', async () => {
    fs.writeFileSync(configFile, goodConfig.replace('warning: 30', 'warning: thirty'));
    exporter.child.kill('SIGHUP');
    await waitFor(async () => value(await scrape(), 'xmpp_cert_config_last_reload_successful') === 0, 10_000, 'reload failure');
    expect(exporter.output()).toContain('thresholds.warning: expected days');
    expect((await fetch(`${exporter.url}/metrics`)).status).toBe(200);
    expect(value(await scrape(), 'xmpp_cert_threshold_seconds', { domain: 'a.example', level: 'warning' })).toBe(30 * 86400);

    fs.writeFileSync(configFile, goodConfig.replace('warning: 30', 'warning: 45'));
    exporter.child.kill('SIGHUP');
    await waitFor(async () => value(await scrape(), 'xmpp_cert_config_last_reload_successful') === 1, 10_000, 'reload success');
    await waitFor(
      async () => value(await scrape(), 'xmpp_cert_threshold_seconds', { domain: 'a.example', level: 'warning' }) === 45 * 86400,
      10_000,
      'new threshold',
    );
  });

  test('SIGTERM exits 0', async () => {
    expect(await exporter.stop()).toBe(0);
  });
});
