/**
 * A certificate directory full of bad files next to two good certificates: the real exporter keeps
 * answering, reports both good ones, and counts each bad file under its reason. A bad config file
 * gives exit code 1 and names the key.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DAY, mint } from '../helpers/certs';
import { find, parseMetrics, value } from '../helpers/metrics-text';
import { runCli, startCli, waitFor, type Running } from '../helpers/process';
import { describeWithTools } from '../helpers/tools';

describeWithTools(['openssl'], 'bad input never breaks the exporter', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bad-'));
  const certs = path.join(root, 'certs');
  let exporter: Running;
  const good: Record<string, string> = {};

  beforeAll(async () => {
    fs.mkdirSync(path.join(certs, 'good2.example'), { recursive: true });
    const one = await mint({ names: ['good1.example'], notAfter: 60 * DAY });
    const two = await mint({ names: ['good2.example'], notAfter: 3 * DAY });
    good.one = path.join(certs, 'good1.example.crt');
    good.two = path.join(certs, 'good2.example', 'fullchain.pem');
    fs.writeFileSync(good.one, one.pem);
    fs.writeFileSync(path.join(certs, 'good1.example.key'), one.keyPem, { mode: 0o600 });
    fs.writeFileSync(good.two, two.pem);
    fs.writeFileSync(path.join(certs, 'good2.example', 'privkey.pem'), two.keyPem, { mode: 0o600 });

    fs.writeFileSync(path.join(certs, 'empty.crt'), '');
    fs.writeFileSync(path.join(certs, 'garbage.pem'), 'this is not a certificate at all\n');
    fs.writeFileSync(path.join(certs, 'truncated.pem'), one.pem.slice(0, 300));
    execFileSync('openssl', ['crl2pkcs7', '-nocrl', '-certfile', good.one, '-out', path.join(certs, 'bundle-pkcs7.pem')]);
    fs.writeFileSync(path.join(certs, 'lonely-key.pem'), one.keyPem, { mode: 0o600 });
    const big = fs.openSync(path.join(certs, 'huge.pem'), 'w');
    fs.writeSync(big, Buffer.alloc(50 * 1024 * 1024, 'A'));
    fs.closeSync(big);
    fs.mkdirSync(path.join(certs, 'x.crt'));
    fs.symlinkSync('loop.pem', path.join(certs, 'loop.pem'));
    fs.symlinkSync(path.join(root, 'nowhere.crt'), path.join(certs, 'dangling.crt'));

    const config = path.join(root, 'xmpp-cert.yml');
    fs.writeFileSync(
      config,
      `prosody:\n  config: null\n  certs: ${certs}\nprobes:\n  enabled: false\ndomains: [good1.example, good2.example]\nthresholds:\n  warning: 14\n  critical: 7\n`,
    );
    exporter = await startCli(['serve', '--config', config, '--listen', '127.0.0.1:0']);
    await waitFor(async () => (await fetch(`${exporter.url}/readyz`)).status === 200, 15_000, '/readyz');
  });

  afterAll(async () => {
    await exporter?.stop();
  });

  test('both good certificates are reported', async () => {
    const samples = parseMetrics(await (await fetch(`${exporter.url}/metrics`)).text());
    expect(value(samples, 'xmpp_cert_not_after_timestamp_seconds', { domain: 'good1.example', target: good.one! })).toBeGreaterThan(Date.now() / 1000);
    expect(value(samples, 'xmpp_cert_not_after_timestamp_seconds', { domain: 'good2.example', target: good.two! })).toBeGreaterThan(Date.now() / 1000);
    expect(find(samples, 'xmpp_cert_domain_status', { domain: 'good2.example', status: 'critical' })[0]?.value).toBe(1);
  });

  test('each bad file is counted under its reason and named', async () => {
    const samples = parseMetrics(await (await fetch(`${exporter.url}/metrics`)).text());
    const errors = Object.fromEntries(find(samples, 'xmpp_cert_file_errors').map((s) => [s.labels.reason, s.value]));
    expect(errors).toEqual({
      not_found: 1,
      unreadable: 0,
      symlink_loop: 1,
      not_a_file: 1,
      too_large: 1,
      empty: 1,
      bad_pem: 2,
      bad_der: 0,
      no_certificate: 1,
      unsupported: 1,
    });
    const named = Object.fromEntries(find(samples, 'xmpp_cert_file_error_info').map((s) => [path.basename(s.labels.file!), s.labels.reason]));
    expect(named).toEqual({
      'dangling.crt': 'not_found',
      'loop.pem': 'symlink_loop',
      'x.crt': 'not_a_file',
      'huge.pem': 'too_large',
      'empty.crt': 'empty',
      'garbage.pem': 'bad_pem',
      'truncated.pem': 'bad_pem',
      'lonely-key.pem': 'no_certificate',
      'bundle-pkcs7.pem': 'unsupported',
    });
  });

  test('the exporter keeps answering across rescans', async () => {
    for (let i = 0; i < 5; i++) {
      const [metrics, status] = await Promise.all([fetch(`${exporter.url}/metrics`), fetch(`${exporter.url}/status`)]);
      expect(metrics.status).toBe(200);
      expect(status.status).toBe(200);
    }
    expect(exporter.child.exitCode).toBeNull();
  });

  test('monitor reports the same and exits CRITICAL (2)', () => {
    const config = path.join(root, 'xmpp-cert.yml');
    const result = runCli(['monitor', '--config', config]);
    expect(result.status).toBe(2);
    expect(result.stdout).toMatch(/^XMPP-CERT CRITICAL - 1 critical, 9 unknown of 11: good2\.example file: \d\.\d days left; \S+\/certs\/\S+: /);
    expect(result.stdout).toMatch(/^CRITICAL\s+good2\.example\s+file\s+\S+fullchain\.pem\s+\S+\s+2\s/m);
    expect(result.stdout).toMatch(/^UNKNOWN\s+-\s+file\s+\S+huge\.pem\s.*too_large/m);
  });

  test('a bad config file: exit 1 (monitor: 3, UNKNOWN, on stdout) and the key is named', () => {
    const bad = path.join(root, 'bad.yml');
    fs.writeFileSync(bad, 'thresholds:\n  critical: sometime\nscan:\n  intervall: 5m\n');
    for (const args of [
      ['serve', '--config', bad, '--listen', '127.0.0.1:0'],
      ['config', 'check', '--config', bad],
      ['monitor', '--config', bad],
    ]) {
      const result = runCli(args);
      const monitor = args[0] === 'monitor';
      expect(result.status).toBe(monitor ? 3 : 1);
      const said = monitor ? result.stdout : result.stderr;
      if (monitor) expect(said).toMatch(/^XMPP-CERT UNKNOWN - invalid configuration in /);
      expect(said).toContain('thresholds.critical: expected days');
      expect(said).toContain('scan.intervall: unknown key (did you mean scan.interval?)');
    }
  });
});
