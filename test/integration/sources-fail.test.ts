/**
 * Sources that fail are errors, not absences, and nothing hangs the exporter: the real CLI with
 * prosody.cfg.lua turning unreadable or invalid under a running `serve` (source down, the hosts of
 * the last good read kept), `config check` and `monitor` on a missing or broken one, Include
 * warnings in every verb, FIFOs and devices where a config or certificate file should be, a
 * certificate directory part of which the exporter may not list, a scan past scan.timeout
 * (reported stalled while it runs) and SIGTERM ending `serve` mid-scan within 10 s.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DAY, mint } from '../helpers/certs';
import { find, parseMetrics, value } from '../helpers/metrics-text';
import { CLI, runCli, startCli, waitFor, type Running } from '../helpers/process';
import { describeWithTools } from '../helpers/tools';

const metricsOf = async (url: string) => parseMetrics(await (await fetch(`${url}/metrics`)).text());

describeWithTools(['mkfifo'], 'sources that fail are errors, not absences', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-srcfail-'));
  const certs = path.join(root, 'certs');
  const prosodyCfg = path.join(root, 'prosody.cfg.lua');
  const yml = path.join(root, 'xmpp-cert.yml');
  let exporter: Running | undefined;

  beforeAll(async () => {
    fs.chmodSync(root, 0o755);
    fs.mkdirSync(path.join(certs, 'a.example'), { recursive: true });
    const a = await mint({ names: ['a.example'], notAfter: 60 * DAY });
    fs.writeFileSync(path.join(certs, 'a.example', 'fullchain.pem'), a.pem);
    fs.writeFileSync(path.join(certs, 'a.example', 'privkey.pem'), a.keyPem, { mode: 0o600 });
    execFileSync('mkfifo', [path.join(certs, 'fifo.crt')]);
    fs.symlinkSync('/dev/zero', path.join(certs, 'zero.pem'));
    fs.writeFileSync(prosodyCfg, 'run_as_root = true\ncertificates = "certs"\nVirtualHost "a.example"\nVirtualHost "b.example"\nInclude "conf.d/*.lua"\n');
    fs.writeFileSync(yml, `prosody:\n  config: ${prosodyCfg}\nprobes:\n  enabled: false\nscan:\n  interval: 1s\n`);
  });

  afterAll(async () => {
    await exporter?.stop();
  });

  test('FIFOs and devices are refused by type; an Include that matches nothing is a warning in monitor and config check', () => {
    const monitor = runCli(['monitor', '--config', yml]);
    // A stray file the exporter refused to read is "could not check" (UNKNOWN), beside the domains' own states.
    expect(monitor.stdout).toMatch(/^UNKNOWN\s+-\s+file\s+\S*fifo\.crt\s.*is a FIFO, not a certificate file/m);
    expect(monitor.stdout).toMatch(/^UNKNOWN\s+-\s+file\s+\S*zero\.pem\s.*is a device, not a certificate file/m);
    expect(monitor.stderr).toContain(`cannot list ${path.join(root, 'conf.d')} for Include`);
    const check = runCli(['config', 'check', '--config', yml]);
    expect(check.status).toBe(0);
    expect(check.stderr).toContain(`warning: ${prosodyCfg}:5: cannot list ${path.join(root, 'conf.d')} for Include "conf.d/*.lua"`);
  });

  test('serve: prosody.cfg.lua broken, unreadable or a FIFO: source down, the hosts of the last good read stay', async () => {
    exporter = await startCli(['serve', '--config', yml, '--listen', '127.0.0.1:0']);
    const url = exporter.url;
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 15_000, '/readyz');
    let samples = await metricsOf(url);
    expect(value(samples, 'xmpp_cert_source_up', { source: 'prosody_config' })).toBe(1);
    expect(value(samples, 'xmpp_cert_domain_status', { domain: 'b.example', status: 'missing' })).toBe(1);
    const good = fs.readFileSync(prosodyCfg);
    for (const breakIt of [
      () => fs.writeFileSync(prosodyCfg, 'VirtualHost "a.example"\nssl = { certificate = "x"\n'),
      () => fs.rmSync(prosodyCfg),
      () => {
        fs.rmSync(prosodyCfg);
        execFileSync('mkfifo', [prosodyCfg]);
      },
    ]) {
      breakIt();
      samples = await waitFor(
        async () => {
          const s = await metricsOf(url);
          return value(s, 'xmpp_cert_source_up', { source: 'prosody_config' }) === 0 ? s : undefined;
        },
        10_000,
        'prosody_config down',
      );
      expect(value(samples, 'xmpp_cert_domain_status', { domain: 'a.example', status: 'ok' })).toBe(1);
      expect(value(samples, 'xmpp_cert_domain_status', { domain: 'b.example', status: 'missing' })).toBe(1);
      const status = (await (await fetch(`${url}/status`)).json()) as { sources: Array<{ source: string; up: boolean; stale?: boolean; error?: string }> };
      expect(status.sources.find((s) => s.source === 'prosody_config')).toMatchObject({ up: false, stale: true });
      fs.rmSync(prosodyCfg, { force: true });
      fs.writeFileSync(prosodyCfg, good);
      await waitFor(async () => value(await metricsOf(url), 'xmpp_cert_source_up', { source: 'prosody_config' }) === 1, 10_000, 'prosody_config up again');
    }
    expect(exporter.output()).toContain('Lua syntax error');
  });

  test("the exporter's own config and the legacy conf as FIFOs or devices: refused by type at once, naming the file", () => {
    const fifo = path.join(root, 'config-fifo.yml');
    execFileSync('mkfifo', [fifo]);
    // monitor is a Monitoring Plugins check: a config it cannot read is UNKNOWN (3), said on stdout.
    for (const [args, status, stream] of [
      [['monitor', '--config', fifo], 3, 'stdout'],
      [['config', 'check', '--config', '/dev/zero'], 1, 'stderr'],
      [['--legacy-conf', fifo, 'monitor', '--config', yml], 3, 'stdout'],
    ] as const) {
      const started = Date.now();
      const result = runCli([...args]);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(result.status).toBe(status);
      expect(result[stream]).toMatch(/is a (FIFO \(named pipe\)|device), not a regular file; refused without reading it/);
    }
  });

  test('config check fails and monitor is UNKNOWN for a missing or invalid prosody.cfg.lua', () => {
    const broken = path.join(root, 'broken.cfg.lua');
    fs.writeFileSync(broken, 'VirtualHost "a.example" {\n');
    for (const cfg of [broken, path.join(root, 'missing.cfg.lua')]) {
      const file = path.join(root, 'bad.yml');
      fs.writeFileSync(file, `prosody:\n  config: ${cfg}\n  certs: ${certs}\ndomains: [a.example]\nprobes:\n  enabled: false\n`);
      const check = runCli(['config', 'check', '--config', file]);
      expect(check.status).toBe(1);
      expect(check.stderr).toContain(cfg);
      const monitor = runCli(['monitor', '--config', file]);
      expect(monitor.status).toBe(3);
      expect(monitor.stdout).toMatch(/^UNKNOWN\s+-\s+prosody_config\s.*source down: /m);
    }
  });

  test('a certificate directory the exporter may not list: error for the domains it may hide, with a permissions hint', async () => {
    const hidden = path.join(root, 'hidden');
    fs.mkdirSync(path.join(hidden, 'certs', 'x.example'), { recursive: true });
    fs.chmodSync(hidden, 0o755);
    const x = await mint({ names: ['x.example'], notAfter: 60 * DAY });
    fs.writeFileSync(path.join(hidden, 'certs', 'x.example', 'fullchain.pem'), x.pem);
    fs.chmodSync(path.join(hidden, 'certs', 'x.example'), 0o700);
    const file = path.join(hidden, 'c.yml');
    fs.writeFileSync(file, `prosody:\n  config: null\n  certs: ${path.join(hidden, 'certs')}\ndomains: [x.example]\nprobes:\n  enabled: false\n`);
    fs.chmodSync(file, 0o644);
    // root may list anything: run the check as nobody then (a non-root runner is refused by the mode itself).
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const out = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'monitor', '--config', file], { ...asNobody, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.on('exit', (code) => resolve(`${code}\n${text}`));
    });
    expect(out).toMatch(/^3\n/);
    expect(out).toMatch(/^UNKNOWN\s+x\.example\s.*could not be listed .*let the exporter's user read it/m);
    expect(out).not.toContain('Prosody would find none either');
  });

  test('a scan past scan.timeout is reported stalled while it runs; SIGTERM ends serve mid-scan within 10 s', async () => {
    const big = path.join(root, 'big');
    fs.mkdirSync(big);
    const one = await mint({ names: ['filler.example'], notAfter: 60 * DAY });
    for (let i = 0; i < 20_000; i++) fs.writeFileSync(path.join(big, `f${i}.pem`), one.pem);
    const file = path.join(root, 'slow.yml');
    fs.writeFileSync(
      file,
      `prosody:\n  config: null\n  certs: ${big}\ndomains: [a.example]\nprobes:\n  enabled: false\nscan:\n  interval: 1h\n  timeout: 1s\n`,
    );
    const slow = await startCli(['serve', '--config', file, '--listen', '127.0.0.1:0']);
    try {
      const samples = await waitFor(
        async () => {
          const s = await metricsOf(slow.url);
          return value(s, 'xmpp_cert_scan_stalled') === 1 ? s : undefined;
        },
        20_000,
        'xmpp_cert_scan_stalled 1',
      );
      expect(find(samples, 'xmpp_cert_scan_stalls_total')[0]?.value).toBe(1);
      expect((await fetch(`${slow.url}/healthz`)).status).toBe(200);
      expect(slow.output()).toContain('scan_stalled');
      const started = Date.now();
      const code = await slow.stop();
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(code === 0 || code === 1).toBe(true);
    } finally {
      await slow.stop();
    }
  }, 60_000);
});
