/**
 * `xmpp-cert monitor` as Nagios/Icinga run it: the built CLI over certificates minted here, and for
 * the served side real TLS endpoints on loopback (a trusted one, an untrusted one, one for the
 * wrong name, a closed port, one that never answers). Every output is read through the strict
 * plugin-output grammar (test/helpers/plugin-output.ts); the exit code must be the state the
 * first line names, the summary never says OK when the code is not 0, and each perfdata item's
 * thresholds, read as the guidelines' ranges, give the state its row shows.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { DAY, mint } from '../helpers/certs';
import { alerts, parsePluginOutput, STATES, type PluginOutput } from '../helpers/plugin-output';
import { CLI } from '../helpers/process';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-plugin-'));
const servers: Array<tls.Server | net.Server> = [];
afterAll(() => servers.forEach((s) => s.close()));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Async, so this process's own TLS endpoints can answer the CLI's probes meanwhile. */
function run(args: string[]): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH ?? '' } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Reads and checks what every plugin run must satisfy; returns the parsed output. */
function plugin(result: Run): PluginOutput {
  const out = parsePluginOutput(result.stdout);
  expect(result.code).toBe(STATES.indexOf(out.state));
  if (out.state !== 'OK') expect(out.summary).not.toMatch(/\bOK\b/);
  const rows = new Map(
    out.long
      .slice(1)
      .map((l) => l.split(/\s{2,}/))
      .map((cells) => [`${cells[1]}_${cells[2]}`, cells]),
  );
  for (const p of out.perf) {
    expect(p.uom).toBe('s');
    expect(p.min).toBe(0);
    expect(p.value).toBeGreaterThanOrEqual(0);
    expect(p.value).toBeLessThanOrEqual(p.max!);
    // For a row judged by expiry alone ("N days left", nothing else), the ranges say what the row says.
    const row = rows.get(p.label);
    if (row && /^\d+\.\d days left$/.test(row.at(-1)!)) {
      const fromRanges = alerts(p.crit!, p.value) ? 'CRITICAL' : alerts(p.warn!, p.value) ? 'WARNING' : 'OK';
      expect(`${p.label} ${fromRanges}`).toBe(`${p.label} ${row[0]}`);
    }
  }
  return out;
}

/** A certificate directory (Prosody layout) holding `certs`, and a config over it. */
async function setup(name: string, certs: Record<string, number | 'garbage' | { names: readonly string[]; days: number }>, extra = ''): Promise<string> {
  const dir = path.join(root, name, 'certs');
  fs.mkdirSync(dir, { recursive: true });
  for (const [domain, spec] of Object.entries(certs)) {
    fs.mkdirSync(path.join(dir, domain), { recursive: true });
    if (spec === 'garbage') {
      fs.writeFileSync(path.join(dir, domain, 'fullchain.pem'), 'not a certificate\n');
      fs.writeFileSync(path.join(dir, domain, 'privkey.pem'), 'not a key\n');
      continue;
    }
    const { names, days } = typeof spec === 'number' ? { names: [domain], days: spec } : spec;
    const cert = await mint({ names: [...names], notBefore: days > 0 ? -30 * DAY : (days - 60) * DAY, notAfter: days * DAY });
    fs.writeFileSync(path.join(dir, domain, 'fullchain.pem'), cert.pem);
    fs.writeFileSync(path.join(dir, domain, 'privkey.pem'), cert.keyPem, { mode: 0o600 });
  }
  const config = path.join(root, name, 'xmpp-cert.yml');
  const domains = Object.keys(certs).filter((d) => !d.startsWith('stray'));
  fs.writeFileSync(
    config,
    `prosody:\n  config: null\n  certs: certs\nprobes:\n  enabled: false\ndomains: [${domains.join(', ')}]\nthresholds:\n  warning: 14\n  critical: 5\n${extra}`,
  );
  return config;
}

describe('state combinations (files)', () => {
  test.each([
    ['all ok', { 'a.example': 40, 'b.example': 60 }, 'OK'],
    ['one warning', { 'a.example': 40, 'w.example': 10 }, 'WARNING'],
    ['one critical', { 'a.example': 40, 'c.example': 3 }, 'CRITICAL'],
    ['warning and critical', { 'w.example': 10, 'c.example': 3 }, 'CRITICAL'],
    ['expired', { 'x.example': -2 }, 'CRITICAL'],
    // A domain's own file that Prosody cannot load (garbage) means no TLS for it: CRITICAL. A stray
    // file the exporter cannot use is "could not check": UNKNOWN, below any WARNING.
    ['garbage domain file', { 'a.example': 40, 'g.example': 'garbage' }, 'CRITICAL'],
    ['garbage domain file beside a warning', { 'w.example': 10, 'g.example': 'garbage' }, 'CRITICAL'],
    ['stray unreadable file beside a warning domain', { 'w.example': 10, 'stray.example': 'garbage' }, 'WARNING'],
    ['stray unreadable file beside an ok domain', { 'a.example': 40, 'stray.example': 'garbage' }, 'UNKNOWN'],
    ['stray unreadable file beside a critical domain', { 'c.example': 2, 'stray.example': 'garbage' }, 'CRITICAL'],
    ['certificate not covering its domain', { 'n.example': { names: ['other.example'], days: 40 } }, 'CRITICAL'],
    // A file that serves no watched domain counts only when expired or not yet valid (thresholds.unusedFiles).
    ['stray readable file near expiry', { 'a.example': 40, 'stray.example': 10 }, 'OK'],
    ['stray expired file', { 'a.example': 40, 'stray.example': -2 }, 'WARNING'],
  ] as const)('%s -> %s', async (name, certs, state) => {
    const out = plugin(await run(['monitor', '--config', await setup(name.replace(/\W+/g, '-'), certs)]));
    expect(out.state).toBe(state);
    for (const domain of Object.keys(certs).filter((d) => !d.startsWith('stray') && certs[d as keyof typeof certs] !== 'garbage')) {
      expect(out.perf.map((p) => p.label)).toContain(`${domain}_file`);
    }
  });

  test('a domain without a certificate is CRITICAL; its row says why; no perfdata without a certificate', async () => {
    const config = await setup('missing', { 'a.example': 40 });
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('domains: [a.example]', 'domains: [a.example, none.example]'));
    const out = plugin(await run(['monitor', '--config', config]));
    expect(out.state).toBe('CRITICAL');
    expect(out.summary).toContain('none.example file: no certificate found for none.example');
    expect(out.perf.map((p) => p.label)).toEqual(['a.example_file']);
  });

  test('perfdata: seconds left, warning and critical as "alert below" ranges, min 0, max the lifetime', async () => {
    const out = plugin(await run(['monitor', '--config', await setup('perf', { 'w.example': 10 })]));
    const [p] = out.perf;
    expect(p).toMatchObject({ label: 'w.example_file', uom: 's', min: 0, max: 40 * 86400 });
    expect(p!.value).toBeGreaterThan(10 * 86400 - 120);
    expect(p!.value).toBeLessThanOrEqual(10 * 86400);
    expect(p!.warn).toEqual({ inside: false, start: 14 * 86400, end: Infinity });
    expect(p!.crit).toEqual({ inside: false, start: 5 * 86400, end: Infinity });
    expect(out.summary).toBe('1 warning of 1: w.example file: 10.0 days left');
  });

  test('an expired certificate has perfdata 0 (min), never negative', async () => {
    const out = plugin(await run(['monitor', '--config', await setup('expired0', { 'x.example': -3 })]));
    expect(out.perf[0]!.value).toBe(0);
  });

  test('OK names the next expiry; the long output is the table', async () => {
    const out = plugin(await run(['monitor', '--config', await setup('okay', { 'a.example': 40, 'b.example': 20 })]));
    expect(out.summary).toBe('2 checks passed; next expiry b.example (file) in 20.0 days');
    expect(out.long[0]).toMatch(/^STATE\s+DOMAIN\s+SOURCE\s+FILE OR ENDPOINT\s+NOT AFTER\s+DAYS LEFT\s+DETAIL$/);
    expect(out.long.slice(1).map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual(['OK a.example file', 'OK b.example file']);
  });

  test('nothing to watch is UNKNOWN', async () => {
    const empty = path.join(root, 'empty.yml');
    fs.writeFileSync(empty, 'prosody:\n  config: null\n');
    const out = plugin(await run(['monitor', '--config', empty]));
    expect(out.state).toBe('UNKNOWN');
    expect(out.summary).toMatch(/^nothing to check/);
  });

  test('a source that is down (prosody.cfg.lua missing) is UNKNOWN beside OK domains', async () => {
    const config = await setup('source-down', { 'a.example': 40 });
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('config: null', `config: ${path.join(root, 'no-such-prosody.cfg.lua')}`));
    const out = plugin(await run(['monitor', '--config', config]));
    expect(out.state).toBe('UNKNOWN');
    expect(out.summary).toContain('prosody_config: source down');
  });
});

describe('check_ssl_cert-style options', () => {
  let config: string;
  beforeAll(async () => {
    config = await setup('options', { 'a.example': 40, 'w.example': 10, 'c.example': 3 });
    // A per-domain override: -w/-c replace it too.
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('  critical: 5\n', '  critical: 5\n  overrides:\n    w.example: {warning: 12}\n'));
  });

  test('-H checks one domain: its state and perfdata only', async () => {
    for (const [domain, state] of [
      ['a.example', 'OK'],
      ['w.example', 'WARNING'],
      ['c.example', 'CRITICAL'],
    ] as const) {
      const out = plugin(await run(['monitor', '--config', config, '-H', domain]));
      expect(out.state).toBe(state);
      expect(out.perf.map((p) => p.label)).toEqual([`${domain}_file`]);
    }
    const long = plugin(await run(['monitor', '--config', config, '--domain', 'A.Example.']));
    expect(long.perf.map((p) => p.label)).toEqual(['a.example_file']);
  });

  test('-H for a domain the config does not list: found in the certificate directory as Prosody would', async () => {
    const dir = path.join(root, 'options', 'certs', 'extra.example');
    fs.mkdirSync(dir);
    const cert = await mint({ names: ['extra.example'], notAfter: 8 * DAY });
    fs.writeFileSync(path.join(dir, 'fullchain.pem'), cert.pem);
    fs.writeFileSync(path.join(dir, 'privkey.pem'), cert.keyPem);
    const out = plugin(await run(['monitor', '--config', config, '-H', 'extra.example']));
    expect(out.state).toBe('WARNING');
    expect(out.perf.map((p) => p.label)).toEqual(['extra.example_file']);
    const none = plugin(await run(['monitor', '--config', config, '-H', 'nowhere.example']));
    expect(none.state).toBe('CRITICAL');
  });

  test('-w and -c override every threshold, per-domain overrides too, in days, % or a duration', async () => {
    expect(plugin(await run(['monitor', '--config', config, '-w', '2', '-c', '1'])).state).toBe('OK');
    expect(plugin(await run(['monitor', '--config', config, '-H', 'w.example', '-w', '11', '-c', '1'])).state).toBe('WARNING');
    expect(plugin(await run(['monitor', '--config', config, '-H', 'w.example', '-w', '9', '-c', '1'])).state).toBe('OK');
    expect(plugin(await run(['monitor', '--config', config, '-H', 'a.example', '--warning', '95%', '--critical', '90%'])).state).toBe('CRITICAL');
    const hours = plugin(await run(['monitor', '--config', config, '-H', 'c.example', '-w', '240h', '-c', '48h']));
    expect(hours.state).toBe('WARNING');
    expect(hours.perf[0]).toMatchObject({ warn: { start: 240 * 3600 }, crit: { start: 48 * 3600 } });
  });

  test('thresholds that cannot work, a bad value, an unknown option: UNKNOWN (3) with the reason on the first line', async () => {
    const inverted = plugin(await run(['monitor', '--config', config, '-w', '5', '-c', '10']));
    expect(inverted.state).toBe('UNKNOWN');
    expect(inverted.summary).toContain('thresholds cannot work');
    expect(inverted.long.join('\n')).toContain('warning 5d is at or below critical 10d');
    const bad = plugin(await run(['monitor', '--config', config, '-w', 'soon']));
    expect(bad.summary).toBe('invalid configuration in ' + config + ':');
    expect(bad.long.join('\n')).toContain('thresholds.warning: expected days');
    expect(bad.long.join('\n')).toContain('(from flag --warning)');
    const option = plugin(await run(['monitor', '--config', config, '--bogus']));
    expect(option.summary).toBe("unknown option '--bogus'");
    const missing = plugin(await run(['monitor', '--config', path.join(root, 'nope.yml')]));
    expect(missing.summary).toMatch(/^cannot read config file .*nope\.yml/);
  });

  test('--json is the JSON report (with -H, of that domain)', async () => {
    const result = await run(['monitor', '--config', config, '--json', '-H', 'c.example']);
    expect(result.code).toBe(2);
    const report = JSON.parse(result.stdout) as { overall_status: string; domains: Array<{ domain: string }> };
    expect(report.domains.map((d) => d.domain)).toEqual(['c.example']);
  });
});

describe('served certificates (real TLS endpoints on loopback)', () => {
  let trusted: { pem: string; keyPem: string };
  const listen = async (server: tls.Server | net.Server) => {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as net.AddressInfo).port;
  };
  const tlsEndpoint = (cert: { pem: string; keyPem: string }) => listen(tls.createServer({ cert: cert.pem, key: cert.keyPem }, (s) => s.end()));
  const endpointYaml = (domain: string, port: number) => `    - { domain: ${domain}, host: 127.0.0.1, port: ${port}, service: c2s, tls: direct }\n`;

  /** s.example on disk (40 days) and the given endpoints probed with probes.ca = the trusted cert. */
  async function servedConfig(name: string, endpoints: string, disk = trusted): Promise<string> {
    const config = await setup(name, {});
    const dir = path.join(root, name, 'certs', 's.example');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'fullchain.pem'), disk.pem);
    fs.writeFileSync(path.join(dir, 'privkey.pem'), disk.keyPem);
    fs.writeFileSync(path.join(root, name, 'ca.pem'), trusted.pem);
    const text = fs
      .readFileSync(config, 'utf8')
      .replace('probes:\n  enabled: false\n', `probes:\n  srv: false\n  timeout: 3s\n  ca: [ca.pem]\n  endpoints:\n${endpoints}`)
      .replace('domains: []', 'domains: [s.example]');
    fs.writeFileSync(config, text);
    return config;
  }

  beforeAll(async () => {
    trusted = await mint({ names: ['s.example'], notAfter: 40 * DAY });
  });

  test('trusted, covering, same as on disk: OK with perfdata for the file and the endpoint', async () => {
    const config = await servedConfig('served-ok', endpointYaml('s.example', await tlsEndpoint(trusted)));
    const out = plugin(await run(['monitor', '--config', config]));
    expect(out.state).toBe('OK');
    expect(out.perf.map((p) => p.label)).toEqual(['s.example_file', 's.example_c2s_tls']);
  });

  test('untrusted (another self-signed certificate) is CRITICAL, as check_ssl_cert', async () => {
    const stranger = await mint({ names: ['s.example'], notAfter: 40 * DAY });
    const config = await servedConfig('served-untrusted', endpointYaml('s.example', await tlsEndpoint(stranger)));
    const out = plugin(await run(['monitor', '--config', config]));
    expect(out.state).toBe('CRITICAL');
    expect(out.summary).toContain('not trusted');
  });

  test('a certificate for another name is CRITICAL', async () => {
    const other = await mint({ names: ['other.example'], notAfter: 40 * DAY });
    fs.writeFileSync(path.join(root, 'other-ca.pem'), other.pem);
    const config = await servedConfig('served-name', endpointYaml('s.example', await tlsEndpoint(other)));
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('ca: [ca.pem]', `ca: [ca.pem, ${path.join(root, 'other-ca.pem')}]`));
    const out = plugin(await run(['monitor', '--config', config]));
    expect(out.state).toBe('CRITICAL');
    expect(out.summary).toContain('does not cover s.example');
  });

  test('served is not the file on disk (reload Prosody): WARNING', async () => {
    const renewed = await mint({ names: ['s.example'], notAfter: 80 * DAY });
    const config = await servedConfig('served-old', endpointYaml('s.example', await tlsEndpoint(trusted)), renewed);
    fs.appendFileSync(path.join(root, 'served-old', 'ca.pem'), renewed.pem);
    const out = plugin(await run(['monitor', '--config', config]));
    expect(out.state).toBe('WARNING');
    expect(out.summary).toContain('reload Prosody');
  });

  test('a probe that fails (closed port) is UNKNOWN, and never hides a WARNING file', async () => {
    const closed = await listen(net.createServer());
    servers.pop()!.close();
    const config = await servedConfig('served-closed', endpointYaml('s.example', closed));
    const out = plugin(await run(['monitor', '--config', config]));
    expect(out.state).toBe('UNKNOWN');
    expect(out.summary).toMatch(/s\.example c2s_tls: connect/);
    const warn = await mint({ names: ['s.example'], notAfter: 10 * DAY });
    const both = await servedConfig('served-closed-warn', endpointYaml('s.example', closed), warn);
    expect(plugin(await run(['monitor', '--config', both])).state).toBe('WARNING');
  });

  test('-t: an endpoint that never answers gives UNKNOWN after the timeout, not a hang', async () => {
    const silent = await listen(net.createServer(() => undefined));
    const config = await servedConfig('served-silent', endpointYaml('s.example', silent));
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('timeout: 3s', 'timeout: 60s'));
    const result = await run(['monitor', '--config', config, '-t', '2']);
    const out = plugin(result);
    expect(out.state).toBe('UNKNOWN');
    expect(result.ms).toBeLessThan(10_000);
  });
});
