/**
 * deploy/logrotate/xmpp-cert as `xmpp-cert setup` installs it, checked by the real logrotate:
 * `logrotate -d` (debug: parse and plan, change nothing) accepts the installed file, and a forced
 * rotation of the same rules over a temp log directory rotates the alert log, after which the
 * exporter's next alert line (shared/log.ts appendAlertLog, opening the file per line) starts a
 * new file without any signal.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appendAlertLog, createLogger } from '../../src/shared/log';
import { runCli } from '../helpers/process';
import { describeWithTools } from '../helpers/tools';

describeWithTools(['logrotate'], 'the logrotate file setup installs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-logrotate-'));
  const root = path.join(dir, 'root');
  let installed: string;

  beforeAll(() => {
    fs.mkdirSync(path.join(dir, 'certs'));
    const run = runCli([
      'setup',
      '--yes',
      '--prosody-config',
      'none',
      '--domain',
      'a.example',
      '--certs-dir',
      path.join(dir, 'certs'),
      '--challenge',
      'selfsigned',
      '--output',
      path.join(dir, 'xmpp-cert.yml'),
      '--root',
      root,
      '--exec',
      '/usr/bin/xmpp-cert',
    ]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    installed = path.join(root, 'etc/logrotate.d/xmpp-cert');
    expect(run.stdout).toContain(`installed ${installed} (rotates /var/log/xmpp-cert/*.log, the alert log)`);
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('installed with mode 0644, the package file as shipped', () => {
    expect(fs.statSync(installed).mode & 0o777).toBe(0o644);
    expect(fs.readFileSync(installed, 'utf8')).toBe(fs.readFileSync(path.join(__dirname, '../../deploy/logrotate/xmpp-cert'), 'utf8'));
  });

  test('logrotate -d accepts it', () => {
    const run = spawnSync('logrotate', ['-d', '-s', path.join(dir, 'debug.state'), installed], { encoding: 'utf8' });
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.status).toBe(0);
    expect(run.stderr).toContain('rotating pattern: /var/log/xmpp-cert/*.log');
  });

  test('a forced rotation rotates the alert log; the next alert line starts a new file', () => {
    const logs = path.join(dir, 'log');
    fs.mkdirSync(logs, { mode: 0o750 });
    const alertLog = path.join(logs, 'alerts.log');
    const rules = path.join(dir, 'rules');
    fs.writeFileSync(rules, fs.readFileSync(installed, 'utf8').replace('/var/log/xmpp-cert/*.log', `${logs}/*.log`), { mode: 0o644 });
    const log = createLogger('silent');
    appendAlertLog(alertLog, { event: 'status_change', domain: 'a.example', from: 'ok', to: 'warning' }, log);
    const run = spawnSync('logrotate', ['-f', '-s', path.join(dir, 'state'), rules], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // delaycompress: the first rotation keeps alerts.log.1 plain; the next compresses it.
    expect(fs.readdirSync(logs).sort()).toEqual(['alerts.log.1']);
    expect(fs.readFileSync(path.join(logs, 'alerts.log.1'), 'utf8')).toContain('"to":"warning"');
    appendAlertLog(alertLog, { event: 'status_change', domain: 'a.example', from: 'warning', to: 'ok' }, log);
    expect(fs.readFileSync(alertLog, 'utf8')).toMatch(/^\{"time":"[^"]+","event":"status_change","domain":"a.example","from":"warning","to":"ok"\}\n$/);
    expect(spawnSync('logrotate', ['-f', '-s', path.join(dir, 'state'), rules]).status).toBe(0);
    expect(fs.readdirSync(logs).sort()).toEqual(['alerts.log.1', 'alerts.log.2.gz']);
  });
});
