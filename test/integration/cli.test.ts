/**
 * The one-shot verbs as a user runs them: monitor's table and Nagios exit codes, status to a file,
 * config and config check, and `run` creating a self-signed certificate (key 0600) that it then
 * serves.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { DAY, mint } from '../helpers/certs';
import { parseMetrics, value } from '../helpers/metrics-text';
import { runCli, startCli, waitFor } from '../helpers/process';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-cli-'));

/** A config over its own certificate directory holding one certificate with `days` left. */
async function setup(name: string, days: number | undefined, extra = ''): Promise<string> {
  const certs = path.join(root, name, 'certs');
  fs.mkdirSync(certs, { recursive: true });
  if (days !== undefined) {
    const cert = await mint({ names: [`${name}.example`], notBefore: days > 0 ? -80 * DAY : (days - 90) * DAY, notAfter: days * DAY });
    fs.mkdirSync(path.join(certs, `${name}.example`));
    fs.writeFileSync(path.join(certs, `${name}.example`, 'fullchain.pem'), cert.pem);
    fs.writeFileSync(path.join(certs, `${name}.example`, 'privkey.pem'), cert.keyPem, { mode: 0o600 });
  }
  const config = path.join(root, name, 'xmpp-cert.yml');
  fs.writeFileSync(
    config,
    `prosody:\n  config: null\n  certs: certs\nprobes:\n  enabled: false\ndomains: [${name}.example]\nthresholds:\n  warning: 14\n  critical: 5\n${extra}`,
  );
  return config;
}

describe('monitor', () => {
  test.each([
    ['okay', 40, 0, 'OK'],
    ['warn', 10, 1, 'WARNING'],
    ['crit', 2, 2, 'CRITICAL'],
    ['gone', -3, 2, 'CRITICAL'],
    ['none', undefined, 2, 'CRITICAL'],
  ])('%s: %s days left -> exit %s (%s)', async (name, days, code, state) => {
    const result = runCli(['monitor', '--config', await setup(name, days)]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(code);
    expect(result.stdout).toMatch(new RegExp(`^XMPP-CERT ${state} - `));
    expect(result.stdout).toMatch(new RegExp(`^${state}\\s+${name}\\.example\\s+file\\s`, 'm'));
  });

  test('nothing to watch is UNKNOWN (3)', () => {
    const empty = path.join(root, 'empty.yml');
    fs.writeFileSync(empty, 'prosody:\n  config: null\n');
    expect(runCli(['monitor'], { XMPP_CERT_CONFIG: empty }).status).toBe(3);
  });

  test('--json gives the report with days_left', async () => {
    const result = runCli(['monitor', '--json', '--config', await setup('json', 30)]);
    const report = JSON.parse(result.stdout) as { overall_status: string; domains: Array<{ domain: string; days_left: number; certificates: unknown[] }> };
    expect(report.overall_status).toBe('ok');
    expect(report.domains[0]).toMatchObject({ domain: 'json.example', days_left: 29 });
    expect(report.domains[0]!.certificates).toHaveLength(1);
  });
});

test('status --output writes the JSON report', async () => {
  const out = path.join(root, 'status.json');
  expect(runCli(['status', '--config', await setup('stat', 20), '--output', out]).status).toBe(0);
  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as { generated_at: string; domains: Array<{ status: string; not_after: string }> };
  expect(Date.parse(report.generated_at)).toBeGreaterThan(Date.now() - 60_000);
  expect(report.domains[0]!.status).toBe('ok');
});

test('config prints the effective config with secrets redacted; config check exits 0', async () => {
  const config = await setup('conf', 20);
  const env = { CERT_WEBHOOK_URL: 'https://hooks.example.com/services/T/B/topsecret' };
  const shown = runCli(['config', '--config', config], env);
  expect(shown.status).toBe(0);
  expect(shown.stdout).toContain('warning: 14d');
  expect(shown.stdout).not.toContain('topsecret');
  expect(runCli(['config', 'check', '--config', config], env).status).toBe(0);
});

test('run: the worker issues a self-signed certificate for a domain without one, key 0600, then served', async () => {
  const config = await setup('fresh', undefined, 'renewal:\n  stateDir: state\n  issuers: [{type: selfsigned}]\n');
  const exporter = await startCli(['run', '--config', config, '--listen', '127.0.0.1:0']);
  try {
    const certFile = path.join(root, 'fresh', 'certs', 'fresh.example', 'fullchain.pem');
    const keyFile = path.join(root, 'fresh', 'certs', 'fresh.example', 'privkey.pem');
    await waitFor(() => fs.existsSync(keyFile), 10_000, 'the installed key');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(fs.readFileSync(certFile));
    expect(cert.subjectAltName).toBe('DNS:fresh.example');
    expect(cert.checkPrivateKey(createPrivateKey(fs.readFileSync(keyFile)))).toBe(true);
    const samples = await waitFor(
      async () => {
        const s = parseMetrics(await (await fetch(`${exporter.url}/metrics`)).text());
        return value(s, 'xmpp_cert_domain_status', { domain: 'fresh.example', status: 'ok' }) === 1 ? s : undefined;
      },
      10_000,
      'fresh.example ok',
    );
    expect(value(samples, 'xmpp_cert_not_after_timestamp_seconds', { domain: 'fresh.example' })).toBe(Date.parse(cert.validTo) / 1000);
    expect(value(samples, 'xmpp_cert_info', { domain: 'fresh.example', self_signed: 'true' })).toBe(1);
  } finally {
    await exporter.stop();
  }
});
