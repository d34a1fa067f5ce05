/**
 * Config errors and checks people meet first: an unknown key names the nearest known one (at any
 * depth: sections, lists, records, the shapes of a union); a YAML alias bomb is one clear error;
 * thresholds that cannot work and overrides naming no watched domain are found; a relative path
 * resolves against the config file's directory when written there, and against the working
 * directory when given as a flag.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema, loadConfig, overrideWarnings, thresholdProblems } from '../../src/config';
import { keysAt } from '../../src/config/suggest';
import { ConfigError } from '../../src/shared/errors';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-conv-'));

function issues(yaml: string): string[] {
  const file = path.join(root, 'c.yml');
  fs.writeFileSync(file, yaml);
  try {
    loadConfig({ file, env: {} });
  } catch (err) {
    if (err instanceof ConfigError)
      return err.message
        .split('\n')
        .slice(1)
        .map((l) => l.trim());
    throw err;
  }
  return [];
}

describe('an unknown key names the nearest known one', () => {
  test.each([
    ['top level', 'treshold:\n  warning: 14\n', 'treshold: unknown key (did you mean thresholds?)'],
    ['a section', 'scan:\n  intervall: 5m\n', 'scan.intervall: unknown key (did you mean scan.interval?)'],
    ['two levels down', 'probes:\n  dns:\n    server: [1.1.1.1]\n', 'probes.dns.server: unknown key (did you mean probes.dns.servers?)'],
    [
      'an item of a list',
      'probes:\n  endpoints:\n    - {domain: a.example, hots: x, port: 5223, service: c2s}\n',
      'probes.endpoints[0].hots: unknown key (did you mean probes.endpoints[0].host?)',
    ],
    [
      'a record of sections',
      'thresholds:\n  overrides:\n    a.example: {warnin: 3}\n',
      'thresholds.overrides.a.example.warnin: unknown key (did you mean thresholds.overrides.a.example.warning?)',
    ],
    ['logging', 'logging:\n  formt: logfmt\n', 'logging.formt: unknown key (did you mean logging.format?)'],
    ['server', 'server:\n  telemetry_path: /m\n', 'server.telemetry_path: unknown key (did you mean server.telemetryPath?)'],
    ['nothing near', 'scan:\n  colour: blue\n', 'scan.colour: unknown key (check the spelling against docs/config.md)'],
  ])('%s', (_where, yaml, expected) => {
    expect(issues(yaml)).toContain(expected);
  });

  test('several unknown keys in one mapping: one line each', () => {
    expect(issues('scan:\n  intervall: 5m\n  maxFileSiz: 1MiB\n')).toEqual([
      'scan.intervall: unknown key (did you mean scan.interval?)',
      'scan.maxFileSiz: unknown key (did you mean scan.maxFileSize?)',
    ]);
  });

  test('the keys of every shape of a union are known (issuers)', () => {
    expect(keysAt(configSchema, ['renewal', 'issuers', 0])).toEqual(expect.arrayContaining(['type', 'lifetime', 'email', 'directory']));
  });
});

test('a YAML alias bomb is one clear ConfigError, not an exception from the parser', () => {
  const bomb = [
    'a: &a ["x","x","x","x","x","x","x","x","x"]',
    ...'bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
  ].join('\n');
  const file = path.join(root, 'bomb.yml');
  fs.writeFileSync(file, `${bomb}\n`);
  expect(() => loadConfig({ file, env: {} })).toThrow(ConfigError);
  expect(() => loadConfig({ file, env: {} })).toThrow(`${file}: too many YAML aliases (*name) expand into too much data`);
  // A few aliases are fine.
  fs.writeFileSync(file, 'thresholds:\n  warning: &w 14\n  overrides:\n    a.example: {warning: *w}\n');
  expect(loadConfig({ file, env: {} }).config.thresholds.overrides['a.example']!.warning).toEqual({ kind: 'seconds', seconds: 14 * 86400 });
});

describe('thresholds that cannot work', () => {
  const t = (warning: string, critical: string, overrides = '') => {
    const file = path.join(root, 't.yml');
    fs.writeFileSync(file, `thresholds:\n  warning: ${warning}\n  critical: ${critical}\n${overrides}`);
    return thresholdProblems(loadConfig({ file, env: {} }).config);
  };
  test.each([
    ['14', '7', 0],
    ['7', '7', 1],
    ['5', '7', 1],
    ['20%', '10%', 0],
    ['10%', '10%', 1],
    ['5%', '30%', 1],
    ['36h', '2', 1],
    ['14', '10%', 0], // days vs a share of the lifetime: depends on each certificate, not refused
  ])('warning %s, critical %s: %s problem(s)', (warning, critical, count) => {
    expect(t(warning, critical)).toHaveLength(count);
  });

  test('an override is judged with the defaults it does not replace, and names its domain', () => {
    const problems = t('14', '7', '  overrides:\n    a.example: {warning: 3}\n    b.example: {critical: 30}\n    c.example: {warning: 40, critical: 30}\n');
    expect(problems).toEqual([
      'thresholds.overrides.a.example: warning 3d is at or below critical 7d, so WARNING could never be reported; make warning larger than critical',
      'thresholds.overrides.b.example: warning 14d is at or below critical 30d, so WARNING could never be reported; make warning larger than critical',
    ]);
  });
});

test('override keys naming no watched domain are warned about, with the nearest watched one', () => {
  const file = path.join(root, 'o.yml');
  fs.writeFileSync(file, 'thresholds:\n  overrides:\n    exmaple.org: {warning: 20}\n    example.org: {warning: 20}\n    "*.example.org": {warning: 20}\n');
  const { config } = loadConfig({ file, env: {} });
  expect(overrideWarnings(config, ['example.org', 'conference.example.org'])).toEqual([
    'thresholds.overrides.exmaple.org: names no watched domain, so it applies to nothing (did you mean example.org?)',
    // Overrides name domains exactly; a wildcard matches nothing.
    'thresholds.overrides.*.example.org: names no watched domain, so it applies to nothing (did you mean example.org?)',
  ]);
});

describe('relative paths', () => {
  const dir = path.join(root, 'etc');
  const file = path.join(dir, 'xmpp-cert.yml');
  beforeAll(() => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, 'server:\n  webConfig: web.yml\nlogging:\n  alertLog: ../log/alerts.log\nrenewal:\n  stateDir: state\n');
  });

  test('in the config file: against the file directory', () => {
    const { config } = loadConfig({ file, env: {} });
    expect(config.server.webConfig).toBe(path.join(dir, 'web.yml'));
    expect(config.logging.alertLog).toBe(path.join(root, 'log', 'alerts.log'));
    expect(config.renewal.stateDir).toBe(path.join(dir, 'state'));
  });

  test('given as a flag: against the working directory, even with a config file elsewhere', () => {
    expect(process.cwd()).not.toBe(dir);
    const { config } = loadConfig({ file, env: {}, flags: { 'server.webConfig': 'other/web.yml' } });
    expect(config.server.webConfig).toBe(path.join(process.cwd(), 'other', 'web.yml'));
    expect(config.renewal.stateDir).toBe(path.join(dir, 'state'));
  });

  test('without a config file: against the working directory', () => {
    expect(loadConfig({ env: {}, flags: { 'server.webConfig': 'w.yml' } }).config.server.webConfig).toBe(path.resolve('w.yml'));
  });
});

test('server.telemetryPath: a path of its own, not one of the other endpoints', () => {
  expect(issues('server:\n  telemetryPath: metrics\n')).toEqual(['server.telemetryPath: expected a path starting with / (e.g. /metrics), without ? or #']);
  expect(issues('server:\n  telemetryPath: /status\n')).toEqual(['server.telemetryPath: expected a path other than /, /status, /probe, /healthz, /readyz']);
  expect(issues('server:\n  telemetryPath: /prometheus/metrics\n')).toEqual([]);
  expect(issues('logging:\n  format: text\n')).toEqual(['logging.format: expected json or logfmt, got "text"']);
});
