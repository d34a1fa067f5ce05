/**
 * `xmpp-cert setup` as an operator runs it (the built CLI, real files in a temp directory):
 * flags -> a config that `config check` accepts; bad flag values -> a message naming the flag and
 * nothing written; an existing config kept unless --force; --root -> the units with the operator's
 * command, config and directories, enabled by the real `systemctl --root` and accepted by
 * `systemd-analyze verify`; no systemd -> cron lines; questions answered through piped stdin, with
 * defaults read from prosody.cfg.lua. It never touches the machine's own /etc.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { CLI, runCli } from '../helpers/process';
import { missingTools } from '../helpers/tools';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-setup-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory with a prosody.cfg.lua of two VirtualHosts (one disabled) and a Component. */
function site(): { dir: string; prosody: string; out: string } {
  const dir = path.join(root, `site-${++counter}`);
  fs.mkdirSync(path.join(dir, 'certs'), { recursive: true });
  const prosody = path.join(dir, 'prosody.cfg.lua');
  fs.writeFileSync(
    prosody,
    'certificates = "certs"\nVirtualHost "example.org"\nComponent "conference.example.org" "muc"\nVirtualHost "old.example.org"\n  enabled = false\n',
  );
  return { dir, prosody, out: path.join(dir, 'etc', 'xmpp-cert.yml') };
}

/** A stub for the command the units run: systemd-analyze verify wants an existing executable. */
const stub = path.join(root, 'bin', 'xmpp-cert');
fs.mkdirSync(path.dirname(stub), { recursive: true });
fs.writeFileSync(stub, '#!/bin/sh\nexit 0\n', { mode: 0o755 });

const configCheck = (file: string) => runCli(['config', 'check', '--config', file]);
/** What setup writes (the keys the tests look at). */
interface Written {
  prosody: { config: string | null; certs?: string };
  domains?: string[];
  renewal: { email?: string; stateDir: string; issuers: Array<Record<string, unknown>>; reload: unknown };
}
const parsed = (file: string) => YAML.parse(fs.readFileSync(file, 'utf8')) as Written;

describe('setup from flags', () => {
  test('writes a config that config check accepts, with only what differs from the defaults', () => {
    const { dir, prosody, out } = site();
    const run = runCli([
      'setup',
      '--yes',
      '--no-systemd',
      '--prosody-config',
      prosody,
      '--domain',
      'example.org',
      '--domain',
      'extra.example.net',
      '--email',
      'admin@example.org',
      '--challenge',
      `webroot:${path.join(dir, 'www')}`,
      '--staging',
      '--output',
      out,
    ]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`${prosody}: example.org, conference.example.org\n`);
    expect(run.stdout).toContain(`wrote ${out}\n`);
    expect(configCheck(out)).toMatchObject({ status: 0, stdout: expect.stringMatching(new RegExp(`^configuration OK: ${out}; ${prosody}\n`)) });
    const config = parsed(out);
    expect(config.prosody).toEqual({ config: prosody }); // the certs directory comes from prosody.cfg.lua
    expect(config.domains).toEqual(['extra.example.net']); // example.org is already a host there
    expect(config.renewal.email).toBe('admin@example.org');
    expect(config.renewal.issuers).toEqual([
      { type: 'acme', directory: 'letsencrypt-staging', challenge: { type: 'http-01', webroot: path.join(dir, 'www') } },
      { type: 'selfsigned' },
    ]);
    expect(config.renewal.reload).toEqual({ signal: 'HUP', pidfile: '/run/prosody/prosody.pid' });
    expect(fs.statSync(out).mode & 0o777).toBe(0o644);
  });

  test.each([
    ['http-01', { type: 'http-01', listen: ':80' }],
    ['http-01:127.0.0.1:8080', { type: 'http-01', listen: '127.0.0.1:8080' }],
    ['dns-01:/usr/local/bin/dns-hook --zone example.org', { type: 'dns-01', hook: ['/usr/local/bin/dns-hook', '--zone', 'example.org'] }],
  ])('--challenge %s', (challenge, expected) => {
    const { prosody, out } = site();
    expect(runCli(['setup', '--yes', '--no-systemd', '--prosody-config', prosody, '--challenge', challenge, '--output', out]).status).toBe(0);
    expect(configCheck(out).status).toBe(0);
    expect(parsed(out).renewal.issuers[0]).toMatchObject({ type: 'acme', directory: 'letsencrypt', challenge: expected });
  });

  test('without prosody.cfg.lua: --domain and the certificate directory are written', () => {
    const { dir, out } = site();
    const run = runCli([
      'setup',
      '--yes',
      '--no-systemd',
      '--prosody-config',
      'none',
      '--domain',
      'Chat.Example.Org',
      '--certs-dir',
      path.join(dir, 'certs'),
      '--challenge',
      'selfsigned',
      '--pidfile',
      'none',
      '--output',
      out,
    ]);
    expect(run.status).toBe(0);
    expect(configCheck(out).status).toBe(0);
    expect(parsed(out)).toMatchObject({
      prosody: { config: null, certs: path.join(dir, 'certs') },
      domains: ['chat.example.org'],
      renewal: { issuers: [{ type: 'selfsigned' }], reload: null },
    });
  });

  test.each([
    [['--email', 'not-an-address'], /renewal\.email: expected an e-mail address, got "not-an-address" \(--email\)/],
    [['--challenge', 'tls-alpn-01'], /--challenge: expected http-01, http-01:HOST:PORT, webroot:DIR, dns-01:HOOK or selfsigned, got "tls-alpn-01"/],
    [['--challenge', 'http-01:localhost:99999'], /renewal\.issuers.*\(--challenge\)/],
    [['--prosody-config', '/nonexistent/prosody.cfg.lua'], /--prosody-config: cannot read the Prosody config \/nonexistent\/prosody\.cfg\.lua/],
    [['--prosody-config', 'none'], /--domain: at least one domain is needed when there is no prosody\.cfg\.lua/],
  ])('%j: a clear error, exit 1, nothing written (no config, no units)', (flags, message) => {
    const { dir, prosody, out } = site();
    const run = runCli(['setup', '--yes', '--prosody-config', prosody, '--output', out, '--root', path.join(dir, 'root'), '--exec', stub, ...flags]);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(run.status).toBe(1);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
  });

  test('an existing config is kept unless --force', () => {
    const { prosody, out } = site();
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, '# mine\n');
    const refused = runCli(['setup', '--yes', '--no-systemd', '--prosody-config', prosody, '--output', out]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${out} exists; not overwriting it (--force to replace it`);
    expect(fs.readFileSync(out, 'utf8')).toBe('# mine\n');
    const forced = runCli(['setup', '--yes', '--no-systemd', '--force', '--prosody-config', prosody, '--output', out]);
    expect(forced.status).toBe(0);
    expect(configCheck(out).status).toBe(0);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['xmpp-cert.yml']); // no temp file left behind
  });
});

describe('setup installing units under --root', () => {
  const hasSystemctl = missingTools(['systemctl']).length === 0;
  const hasAnalyze = missingTools(['systemd-analyze']).length === 0;
  if (process.env.XMPP_CERT_REQUIRE_INTEGRATION === '1') {
    test('systemctl and systemd-analyze are installed', () => expect(missingTools(['systemctl', 'systemd-analyze'])).toEqual([]));
  }

  test('the six units, with our command, config and writable directories; exporter and worker enabled', () => {
    const { dir, prosody, out } = site();
    const unitRoot = path.join(dir, 'root');
    const run = runCli([
      'setup',
      '--yes',
      '--prosody-config',
      prosody,
      '--challenge',
      `webroot:${path.join(dir, 'www')}`,
      '--output',
      out,
      '--root',
      unitRoot,
      '--exec',
      stub,
    ]);
    expect(run.status).toBe(0);
    const units = path.join(unitRoot, 'etc/systemd/system');
    expect(
      fs
        .readdirSync(units)
        .filter((f) => /\.(service|timer)$/.test(f))
        .sort(),
    ).toEqual([
      'xmpp-cert-exporter.service',
      'xmpp-cert-monitor.service',
      'xmpp-cert-monitor.timer',
      'xmpp-cert-renew.service',
      'xmpp-cert-renew.timer',
      'xmpp-cert-worker.service',
    ]);
    const worker = fs.readFileSync(path.join(units, 'xmpp-cert-worker.service'), 'utf8');
    expect(worker).toContain(`\nExecStart=${stub} worker --config ${out}\n`);
    expect(worker).toContain(`\nReadWritePaths=${path.join(dir, 'certs')} ${path.join(dir, 'www')}\n`);
    expect(fs.readFileSync(path.join(units, 'xmpp-cert-exporter.service'), 'utf8')).toContain(`\nExecStart=${stub} serve --config ${out}\n`);
    expect(run.stdout).toContain('enabled xmpp-cert-exporter.service xmpp-cert-worker.service');
    if (hasSystemctl) {
      expect(fs.readlinkSync(path.join(units, 'multi-user.target.wants/xmpp-cert-worker.service'))).toBe('/etc/systemd/system/xmpp-cert-worker.service');
      expect(fs.readlinkSync(path.join(units, 'multi-user.target.wants/xmpp-cert-exporter.service'))).toBe('/etc/systemd/system/xmpp-cert-exporter.service');
      expect(fs.existsSync(path.join(units, 'timers.target.wants'))).toBe(false);
    }
    if (hasAnalyze) {
      const files = fs.readdirSync(units).filter((f) => /\.(service|timer)$/.test(f));
      const verify = spawnSync('systemd-analyze', ['verify', '--man=no', ...files.map((f) => `./${f}`)], { cwd: units, encoding: 'utf8', timeout: 30_000 });
      expect(verify.stdout + verify.stderr).toBe('');
      expect(verify.status).toBe(0);
    }
  });

  test('--timers enables the hourly check and the daily renewal instead', () => {
    const { dir, prosody, out } = site();
    const run = runCli(['setup', '--yes', '--timers', '--prosody-config', prosody, '--output', out, '--root', path.join(dir, 'root'), '--exec', stub]);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('enabled xmpp-cert-monitor.timer xmpp-cert-renew.timer');
    if (hasSystemctl) {
      const wants = path.join(dir, 'root/etc/systemd/system/timers.target.wants');
      expect(fs.readdirSync(wants).sort()).toEqual(['xmpp-cert-monitor.timer', 'xmpp-cert-renew.timer']);
      expect(fs.existsSync(path.join(dir, 'root/etc/systemd/system/multi-user.target.wants'))).toBe(false);
    }
  });
});

describe('setup without systemd', () => {
  const cron =
    /^(\d+) \* \* \* \* prosody out=\$\((.+) monitor --config (\S+) 2>&1\) \|\| echo "\$out"\n(\d+) (\d+) \* \* \* prosody out=\$\((.+) auto-renew --config (\S+) 2>&1\) \|\| echo "\$out"$/m;

  test('--no-systemd prints the cron lines (check hourly, renew daily) and installs nothing', () => {
    const { dir, prosody, out } = site();
    const run = runCli(['setup', '--yes', '--no-systemd', '--prosody-config', prosody, '--output', out, '--root', path.join(dir, 'root'), '--exec', stub]);
    expect(run.status).toBe(0);
    const [, minute, exec, config, minute2, hour] = cron.exec(run.stdout) ?? [];
    expect({ exec, config }).toEqual({ exec: stub, config: out });
    for (const [value, max] of [
      [minute, 60],
      [minute2, 60],
      [hour, 24],
    ] as const)
      expect(Number(value)).toBeLessThan(max);
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
  });

  test('the default command is xmpp-cert from PATH, else this node running this CLI', () => {
    const { prosody, out } = site();
    const run = runCli(['setup', '--yes', '--no-systemd', '--prosody-config', prosody, '--output', out], { PATH: path.dirname(process.execPath) });
    expect(cron.exec(run.stdout)?.[2]).toBe(`${process.execPath} ${CLI}`);
    const { prosody: p2, out: out2 } = site();
    const found = runCli(['setup', '--yes', '--no-systemd', '--prosody-config', p2, '--output', out2], {
      PATH: `${path.dirname(stub)}:${path.dirname(process.execPath)}`,
    });
    expect(cron.exec(found.stdout)?.[2]).toBe(stub);
  });

  // Only where systemd is not running (a container, this CI): on a systemd host this would install.
  (fs.existsSync('/run/systemd/system') ? test.skip : test)('with systemd not running, setup says so and prints the cron lines', () => {
    const { prosody, out } = site();
    const run = runCli(['setup', '--yes', '--prosody-config', prosody, '--output', out, '--exec', stub]);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('systemd is not running here: run these from cron instead\n');
    expect(run.stdout).toMatch(cron);
  });
});

describe('interactive setup (answers on piped stdin)', () => {
  /** The CLI with `answers` as its stdin, one per line. */
  const answer = (args: string[], answers: string[]) =>
    spawnSync(process.execPath, [CLI, 'setup', '--no-systemd', '--exec', stub, ...args], {
      input: answers.map((a) => `${a}\n`).join(''),
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
      timeout: 30_000,
    });

  test('defaults come from prosody.cfg.lua; the answers make a config that config check accepts', () => {
    const { dir, prosody, out } = site();
    const run = answer(['--output', out], [prosody, '', '', 'ops@example.org', 'http-01::8080', 'y', '', 'y']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // Each question shows its default; the certificate directory and domains are read from prosody.cfg.lua.
    expect(run.stdout).toContain('Domains to watch (comma-separated) [example.org, conference.example.org]: \n');
    expect(run.stdout).toContain(`Certificate directory [${path.join(dir, 'certs')}]: \n`);
    expect(run.stdout).toContain("Use Let's Encrypt staging (test certificates) first? (y/n) [n]: y\n");
    expect(run.stdout).toContain(`Write this to ${out}? (y/n) [y]: y\nwrote ${out}\n`);
    expect(configCheck(out).status).toBe(0);
    expect(parsed(out)).toEqual({
      prosody: { config: prosody },
      renewal: {
        email: 'ops@example.org',
        stateDir: '/var/lib/xmpp-cert',
        issuers: [{ type: 'acme', directory: 'letsencrypt-staging', challenge: { type: 'http-01', listen: ':8080' } }, { type: 'selfsigned' }],
        reload: { signal: 'HUP', pidfile: '/run/prosody/prosody.pid' },
      },
    });
  });

  test('a bad answer is asked again; flags are not asked; "n" at the end writes nothing', () => {
    const { prosody, out } = site();
    const run = answer(['--output', out, '--prosody-config', prosody, '--email', 'ops@example.org'], ['', '', 'carrier-pigeon', 'selfsigned', '', 'n']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('  --challenge: expected http-01, http-01:HOST:PORT, webroot:DIR, dns-01:HOOK or selfsigned, got "carrier-pigeon"\n');
    expect(run.stdout).not.toContain('E-mail');
    expect(run.stdout).not.toContain('staging'); // no CA: nothing to ask about staging
    expect(run.stdout).toContain('nothing written\n');
    expect(fs.existsSync(out)).toBe(false);
  });

  test('input that ends before every question is answered is an error, not a silent default', () => {
    const { prosody, out } = site();
    const run = answer(['--output', out], [prosody]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      'the input ended before "Domains to watch (comma-separated) [example.org, conference.example.org]:" was answered (use --yes and flags',
    );
    expect(fs.existsSync(path.dirname(out))).toBe(false);
  });
});
