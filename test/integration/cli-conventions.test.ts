/**
 * The command line as people who run Prometheus exporters expect it, through the built CLI:
 * node_exporter's flag names and our earlier ones as aliases, --version, logfmt and JSON logs,
 * one clear line (no stack) for a busy port, a missing --output directory, a closed pipe and a
 * YAML alias bomb, `status --output` replacing its file atomically, and `config check` refusing
 * thresholds that cannot work and warning about overrides that name no watched domain.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DAY, mint } from '../helpers/certs';
import { parseMetrics, value } from '../helpers/metrics-text';
import { CLI, runCli, startCli, waitFor } from '../helpers/process';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-conv-cli-'));
const config = path.join(root, 'xmpp-cert.yml');

beforeAll(async () => {
  const cert = await mint({ names: ['a.example'], notAfter: 40 * DAY });
  fs.mkdirSync(path.join(root, 'certs', 'a.example'), { recursive: true });
  fs.writeFileSync(path.join(root, 'certs', 'a.example', 'fullchain.pem'), cert.pem);
  fs.writeFileSync(path.join(root, 'certs', 'a.example', 'privkey.pem'), cert.keyPem);
  fs.writeFileSync(config, 'prosody:\n  config: null\n  certs: certs\ndomains: [a.example]\nprobes:\n  enabled: false\n');
});

/** No line of a stack trace (`    at fn (file:line:col)`), and exactly one line. */
function oneLine(stderr: string): string {
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  return stderr.trim();
}

/** logfmt as go-logfmt writes it: key=value pairs, values quoted when they need it. */
const LOGFMT_PAIR = /^([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^\s"=]+)(?: |$)/;
function logfmt(line: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  let rest = line;
  while (rest) {
    const m = LOGFMT_PAIR.exec(rest);
    if (!m) throw new Error(`not logfmt at ${JSON.stringify(rest)} in ${JSON.stringify(line)}`);
    pairs.push([m[1]!, m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!]);
    rest = rest.slice(m[0].length);
  }
  return pairs;
}

describe('exporter flags', () => {
  test('--web.listen-address, --web.telemetry-path; the landing page links the path', async () => {
    const exporter = await startCli(['serve', '--config', config, '--web.listen-address', '127.0.0.1:0', '--web.telemetry-path', '/prometheus/metrics']);
    try {
      expect(exporter.output()).toContain(`metrics at ${exporter.url}/prometheus/metrics`);
      await waitFor(async () => (await fetch(`${exporter.url}/readyz`)).status === 200, 10_000, '/readyz');
      const samples = parseMetrics(await (await fetch(`${exporter.url}/prometheus/metrics`)).text());
      expect(value(samples, 'xmpp_cert_domain_status', { domain: 'a.example', status: 'ok' })).toBe(1);
      expect((await fetch(`${exporter.url}/metrics`)).status).toBe(404);
      expect(await (await fetch(`${exporter.url}/`)).text()).toContain('<a href="/prometheus/metrics">');
      // The build facts the binary was built with (npm run build writes dist/build-info.json).
      const build = JSON.parse(fs.readFileSync(path.join(path.dirname(CLI), 'build-info.json'), 'utf8')) as { revision: string };
      expect(value(samples, 'xmpp_cert_build_info', { revision: build.revision, nodejs_version: process.version })).toBe(1);
    } finally {
      await exporter.stop();
    }
  });

  test('--listen and --log-level are still accepted (aliases)', async () => {
    const exporter = await startCli(['--log-level', 'debug', 'serve', '--config', config, '--listen', '127.0.0.1:0']);
    try {
      await waitFor(() => exporter.output().includes('"msg":"scan finished"'), 10_000, 'a debug line');
    } finally {
      await exporter.stop();
    }
  });

  test('--version: version, git revision, build date, Node.js version', () => {
    const run = runCli(['--version']);
    expect(run.status).toBe(0);
    const version = (JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;
    expect(run.stdout).toMatch(new RegExp(`^xmpp-cert, version ${version.replace(/\./g, '\\.')} \\(revision: ([0-9a-f]{40}|unknown)\\)\\n`));
    expect(run.stdout).toMatch(/^ {2}build date: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m);
    expect(run.stdout).toContain(`  node version:     ${process.version}\n`);
  });
});

describe('logs', () => {
  test('--log.format logfmt: time, level, msg first, then fields; one line per event', async () => {
    const exporter = await startCli(['--log.level', 'debug', '--log.format', 'logfmt', 'serve', '--config', config, '--listen', '127.0.0.1:0']);
    try {
      await waitFor(() => exporter.output().includes('msg="scan finished"'), 10_000, 'the scan line');
    } finally {
      await exporter.stop();
    }
    const lines = exporter.output().trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) {
      const pairs = logfmt(line);
      expect(pairs.slice(0, 3).map(([k]) => k)).toEqual(['time', 'level', 'msg']);
      expect(pairs[0]![1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(['debug', 'info', 'warn']).toContain(pairs[1]![1]);
    }
    const listening = logfmt(lines.find((l) => l.includes('metrics at'))!);
    expect(Object.fromEntries(listening)).toMatchObject({ level: 'info', listen: new URL(exporter.url).host });
  });

  test('logging.format in the config file; JSON stays the default', async () => {
    const logfmtConfig = path.join(root, 'logfmt.yml');
    fs.writeFileSync(logfmtConfig, `${fs.readFileSync(config, 'utf8')}logging:\n  format: logfmt\n`);
    const a = await startCli(['serve', '--config', logfmtConfig, '--listen', '127.0.0.1:0']);
    await a.stop();
    expect(a.output()).toMatch(/^time=\S+ level=info msg="metrics at /);
    const b = await startCli(['serve', '--config', config, '--listen', '127.0.0.1:0']);
    await b.stop();
    expect(JSON.parse(b.output().split('\n')[0]!)).toMatchObject({ level: 30, name: 'xmpp-cert' });
  });
});

describe('one clear line, no stack', () => {
  test('a busy port', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const run = runCli(['serve', '--config', config, '--web.listen-address', `127.0.0.1:${port}`]);
      expect(run.status).toBe(1);
      expect(oneLine(run.stderr)).toBe(
        `xmpp-cert: cannot listen on 127.0.0.1:${port}: the address is already in use (another exporter, or another program, listens there): stop it or choose another with --web.listen-address (server.listen)`,
      );
    } finally {
      busy.close();
    }
  });

  test('an address this host does not have', () => {
    const run = runCli(['serve', '--config', config, '--web.listen-address', '192.0.2.1:10522']);
    expect(run.status).toBe(1);
    expect(oneLine(run.stderr)).toContain('cannot listen on 192.0.2.1:10522: this host has no such address');
  });

  test('a missing directory for --output', () => {
    const out = path.join(root, 'no-such-dir', 'status.json');
    const run = runCli(['status', '--config', config, '--output', out]);
    expect(run.status).toBe(1);
    expect(oneLine(run.stderr)).toBe(`xmpp-cert: --output ${out}: the directory ${path.dirname(out)} does not exist (create it first, or choose another file)`);
    const dir = runCli(['status', '--config', config, '--output', root]);
    expect(oneLine(dir.stderr)).toBe(`xmpp-cert: --output ${root}: it is a directory (give a file name inside it)`);
  });

  test('a closed pipe (dashboard --export - | head)', async () => {
    const child = spawn(process.execPath, [CLI, 'dashboard', '--export', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the first write
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(oneLine(stderr)).toBe('xmpp-cert: standard output was closed by the reader (broken pipe); the rest of the output was not written');
  });

  test('a YAML alias bomb as config', () => {
    const bomb = path.join(root, 'bomb.yml');
    const levels = 'abcdefghij'.split('');
    const lines = levels.map((c, i) =>
      i === 0
        ? `${c}: &${c} ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`
        : `${c}: &${c} [${Array(9)
            .fill(`*${levels[i - 1]}`)
            .join(',')}]`,
    );
    fs.writeFileSync(bomb, `${lines.join('\n')}\n`);
    const run = runCli(['config', 'check', '--config', bomb]);
    expect(run.status).toBe(1);
    expect(oneLine(run.stderr)).toBe(`${bomb}: too many YAML aliases (*name) expand into too much data; a config needs few, if any: write the values out`);
  });
});

test('status --output replaces the file atomically: a new inode, whole, no temp file left', () => {
  const out = path.join(root, 'status.json');
  fs.writeFileSync(out, 'previous report\n');
  const before = fs.openSync(out, 'r');
  const inode = fs.fstatSync(before).ino;
  expect(runCli(['status', '--config', config, '--output', out]).status).toBe(0);
  // A reader that had the old file open still reads it whole; the name now holds the new report.
  expect(fs.readFileSync(before, 'utf8')).toBe('previous report\n');
  fs.closeSync(before);
  expect(fs.statSync(out).ino).not.toBe(inode);
  expect((JSON.parse(fs.readFileSync(out, 'utf8')) as { domains: unknown[] }).domains).toHaveLength(1);
  expect(fs.readdirSync(root).filter((f) => f.startsWith('status.json') && f !== 'status.json')).toEqual([]);
});

describe('config check', () => {
  test('refuses warning at or below critical (exit 1, names the keys)', () => {
    const bad = path.join(root, 'inverted.yml');
    fs.writeFileSync(bad, `${fs.readFileSync(config, 'utf8')}thresholds:\n  warning: 7\n  critical: 14\n`);
    const run = runCli(['config', 'check', '--config', bad]);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      `configuration refused: ${bad}:\n  thresholds: warning 7d is at or below critical 14d, so WARNING could never be reported; make warning larger than critical\n`,
    );
  });

  test('warns about overrides that name no watched domain, including prosody.cfg.lua hosts, and passes', () => {
    const prosody = path.join(root, 'prosody.cfg.lua');
    fs.writeFileSync(prosody, 'VirtualHost "chat.example"\nComponent "conference.chat.example" "muc"\n');
    const file = path.join(root, 'overrides.yml');
    fs.writeFileSync(
      file,
      `prosody:\n  config: ${prosody}\n  certs: certs\ndomains: [a.example]\nthresholds:\n  overrides:\n    conference.chat.example: {warning: 20}\n    a.example: {warning: 20}\n    chat.exmaple: {warning: 20}\n`,
    );
    const run = runCli(['config', 'check', '--config', file]);
    expect(run.status).toBe(0);
    // The override warning first; the renewal warnings (here: no issuer configured) follow it.
    expect(run.stderr.split('\n')[0]).toBe(
      'warning: thresholds.overrides.chat.exmaple: names no watched domain, so it applies to nothing (did you mean chat.example?)',
    );
    expect(run.stderr).not.toMatch(/conference\.chat\.example|a\.example/);
    expect(run.stdout).toBe(`configuration OK: ${file}; ${prosody}\n`);
  });
});
