import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../src/shared/errors';
import { configSchema, displayConfig, loadConfig } from '../../src/config';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-config-'));
const write = (name: string, text: string) => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
};
const problems = (options: Parameters<typeof loadConfig>[0]) => {
  try {
    loadConfig(options);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('config: bad values are rejected with their key and what was expected', () => {
  test.each([
    ['renewal:\n  retry:\n    count: three\n', 'renewal.retry.count: expected a whole number >= 0, got "three"'],
    ['renewal:\n  retry:\n    count: -1\n', 'renewal.retry.count: expected a whole number >= 0, got -1'],
    ['thresholds:\n  warning: soon\n', 'thresholds.warning: expected days (e.g. 14), a duration (e.g. 36h), a share of the lifetime (e.g. 20%), got "soon"'],
    ['thresholds:\n  critical: 150%\n', 'thresholds.critical: expected days (e.g. 14), a duration (e.g. 36h), a share of the lifetime (e.g. 20%), got "150%"'],
    ['thresholds:\n  warning: auto\n', 'thresholds.warning: expected days (e.g. 14), a duration (e.g. 36h), a share of the lifetime (e.g. 20%), got "auto"'],
    ['thresholds:\n  unusedFiles: critical\n', 'thresholds.unusedFiles: expected warning or none, got "critical"'],
    ['scan:\n  interval: 0\n', 'scan.interval: expected a duration such as 30d, 12h, 5m or a number of seconds (at least 1s), got 0'],
    ['scan:\n  maxFileSize: huge\n', 'scan.maxFileSize: expected a size such as 1MiB, 512KiB or a number of bytes, got "huge"'],
    ['server:\n  listen: 10522\n', 'server.listen: expected host:port (e.g. 127.0.0.1:10522 or :10522), got 10522'],
    ['server:\n  listen: "host:99999"\n', 'server.listen: expected host:port (e.g. 127.0.0.1:10522 or :10522), got "host:99999"'],
    ['domains: example.org\n', 'domains: expected a list, got "example.org"'],
    ['domains:\n  - "exa mple.org"\n', 'domains[0]: expected a domain name such as example.org, got "exa mple.org"'],
    ['logging:\n  level: loud\n', 'logging.level: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"'],
    ['notify:\n  webhooks:\n    - url: ftp://x\n', 'notify.webhooks[0].url: expected an http:// or https:// URL, got "ftp://x"'],
    ['renewal:\n  email: nobody\n', 'renewal.email: expected an e-mail address, got "nobody"'],
    ['prosody: /etc/prosody\n', 'prosody: expected a mapping, got "/etc/prosody"'],
    ['renewal:\n  issuers:\n    - type: letsencrypt\n', 'renewal.issuers[0].type: expected an issuer with type acme or selfsigned, got "letsencrypt"'],
    [
      'renewal:\n  issuers:\n    - type: acme\n      challenge: {type: http-01}\n',
      'renewal.issuers[0].challenge: expected {type: http-01, listen: "host:port"}, {type: http-01, webroot: DIR}, {type: dns-01, hook: [command, ...]} or {type: dns-01, rfc2136: {...}}, or a list of them each with match: PATTERN',
    ],
    [
      'renewal:\n  issuers:\n    - type: acme\n      keyType: ed25519\n',
      'renewal.issuers[0].keyType: expected one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, got "ed25519"',
    ],
    ['renewal:\n  issuers:\n    - type: acme\n      eab: {kid: k}\n', 'renewal.issuers[0].eab: expected exactly one of hmacKey or hmacKeyFile'],
    ['renewal:\n  issuers: []\n', 'renewal.issuers: expected at least one issuer'],
    [
      'renewal:\n  install:\n    keyMode: "0644"\n',
      'renewal.install.keyMode: expected an octal file mode without rights for others, such as "0600" or "0640", got "0644"',
    ],
    ['renewal:\n  reload: prosodyctl reload\n', 'renewal.reload: expected {command: [...]} or {signal: HUP, pidfile: PATH}'],
    ['promethues: {}\n', 'promethues: unknown key (check the spelling against docs/config.md)'],
    ['server:\n  port: 80\n', 'server.port: unknown key (check the spelling against docs/config.md)'],
  ])('%s', (yaml, message) => {
    expect(problems({ file: write('bad.yml', yaml), env: {} })).toEqual([message]);
  });

  test('every problem is reported at once', () => {
    expect(problems({ file: write('two.yml', 'scan:\n  interval: x\nrenewal:\n  retry:\n    delay: y\n'), env: {} })).toHaveLength(2);
  });

  test('YAML syntax errors name the file', () => {
    expect(() => loadConfig({ file: write('syntax.yml', 'a: [\n'), env: {} })).toThrow(/syntax\.yml: not valid YAML/);
  });

  test('a missing file names the path', () => {
    expect(() => loadConfig({ file: path.join(tmp, 'nope.yml'), env: {} })).toThrow(/cannot read config file .*nope\.yml/);
  });
});

describe('config: defaults, durations, units and paths', () => {
  test('defaults', () => {
    const { config } = loadConfig({ env: {} });
    expect(config.thresholds.warning).toEqual({ kind: 'percent', percent: 20 });
    expect(config.thresholds.renewal).toEqual({ kind: 'auto' });
    expect(config.server.listen).toEqual({ host: '', port: 10522 });
    expect(config.scan.interval).toBe(60);
    expect(config.renewal.retry).toEqual({ count: 3, delay: 300 });
  });

  test('durations and sizes in every form', () => {
    const file = write('units.yml', 'scan:\n  interval: 1h30m\n  maxFileSize: 512KiB\nrenewal:\n  checkInterval: 2d\n  retry:\n    delay: 90\n');
    const { config } = loadConfig({ file, env: {} });
    expect(config.scan).toEqual({ interval: 5400, timeout: 300, maxFileSize: 512 * 1024 });
    expect(config.renewal.checkInterval).toBe(2 * 86400);
    expect(config.renewal.retry.delay).toBe(90);
  });

  test('relative paths resolve against the config file', () => {
    const { config } = loadConfig({
      file: write('paths.yml', 'prosody:\n  config: p/prosody.cfg.lua\n  certs: certs\nfiles: ["le/*/fullchain.pem"]\n'),
      env: {},
    });
    expect(config.prosody).toEqual({ config: path.join(tmp, 'p/prosody.cfg.lua'), certs: path.join(tmp, 'certs') });
    expect(config.files).toEqual([path.join(tmp, 'le/*/fullchain.pem')]);
  });
});

test('renewal paths resolve against the config file; YAML 0640 is an octal mode', () => {
  const file = write(
    'renewal.yml',
    'renewal:\n  install:\n    keyMode: 0640\n  issuers:\n    - type: acme\n      ca: [pebble.pem]\n      challenge: {type: http-01, webroot: www}\n  reload: {pidfile: run/prosody.pid}\n',
  );
  const { renewal } = loadConfig({ file, env: {} }).config;
  expect(renewal.install.keyMode).toBe(0o640);
  expect(renewal.issuers[0]).toMatchObject({
    type: 'acme',
    keyType: 'ecdsa-p256',
    ca: [path.join(tmp, 'pebble.pem')],
    challenge: { webroot: path.join(tmp, 'www') },
  });
  expect(renewal.reload).toEqual({ signal: 'HUP', pidfile: path.join(tmp, 'run/prosody.pid') });
});

describe("config: the seed's variable names", () => {
  const env = {
    CERT_WARNING_THRESHOLD: '30',
    CERT_CRITICAL_THRESHOLD: '7',
    CERT_RENEWAL_THRESHOLD: '30',
    CERT_CHECK_INTERVAL: '3600',
    CERT_RENEWAL_CHECK_INTERVAL: '86400',
    CERT_RENEWAL_RETRY_COUNT: '5',
    CERT_RENEWAL_RETRY_DELAY: '600',
    CERT_ALERT_EMAIL: 'ops@example.org',
    CERT_WEBHOOK_URL: 'https://hooks.example.com/services/T000/B000/SECRET',
    PROSODY_DOMAIN: 'example.org, chat.example.net',
    LETSENCRYPT_EMAIL: 'le@example.org',
    CERT_TEST_MODE: 'true',
  };

  test('environment variables override the file', () => {
    const file = write('env.yml', 'thresholds:\n  warning: 10\nrenewal:\n  retry:\n    count: 1\n');
    const { config } = loadConfig({ file, env });
    expect(config.thresholds.warning).toEqual({ kind: 'seconds', seconds: 30 * 86400 });
    expect(config.thresholds.critical).toEqual({ kind: 'seconds', seconds: 7 * 86400 });
    expect(config.thresholds.renewal).toEqual({ kind: 'seconds', seconds: 30 * 86400 });
    expect(config.scan.interval).toBe(3600);
    expect(config.renewal).toMatchObject({ checkInterval: 86400, retry: { count: 5, delay: 600 }, email: 'le@example.org', testMode: true });
    expect(config.notify.email.to).toBe('ops@example.org');
    expect(config.domains).toEqual(['example.org', 'chat.example.net']);
  });

  test('a bad environment value names the variable', () => {
    expect(problems({ env: { CERT_RENEWAL_RETRY_COUNT: 'three' } })).toEqual([
      'renewal.retry.count: expected a whole number >= 0, got "three" (from environment variable CERT_RENEWAL_RETRY_COUNT)',
    ]);
  });

  test('cert-monitor.conf: comments, export, quotes; the environment still wins', () => {
    const conf = write(
      'cert-monitor.conf',
      '# seed settings\nexport CERT_WARNING_THRESHOLD=21\nCERT_CRITICAL_THRESHOLD="5"  \nPROSODY_DOMAIN=\'a.example b.example\'\nCERT_CHECK_INTERVAL=120 # two minutes\n\n',
    );
    const { config } = loadConfig({ legacyConf: conf, env: { CERT_CRITICAL_THRESHOLD: '3' } });
    expect(config.thresholds.warning).toEqual({ kind: 'seconds', seconds: 21 * 86400 });
    expect(config.thresholds.critical).toEqual({ kind: 'seconds', seconds: 3 * 86400 });
    expect(config.domains).toEqual(['a.example', 'b.example']);
    expect(config.scan.interval).toBe(120);
  });

  test('cert-monitor.conf: a bad line, an unknown name and a bad value name the line', () => {
    const conf = write('bad.conf', 'CERT_WARNING_TRESHOLD=30\nnot a setting\n');
    expect(problems({ legacyConf: conf, env: {} })).toEqual([
      `${conf}:1: unknown setting CERT_WARNING_TRESHOLD (known: CERT_WARNING_THRESHOLD, CERT_CRITICAL_THRESHOLD, CERT_RENEWAL_THRESHOLD, CERT_CHECK_INTERVAL, CERT_RENEWAL_CHECK_INTERVAL, CERT_RENEWAL_RETRY_COUNT, CERT_RENEWAL_RETRY_DELAY, CERT_ALERT_EMAIL, CERT_WEBHOOK_URL, PROSODY_DOMAIN, LETSENCRYPT_EMAIL, CERT_TEST_MODE)`,
      `${conf}:2: expected KEY=VALUE, got "not a setting"`,
    ]);
    const badValue = write('badvalue.conf', '\nCERT_RENEWAL_RETRY_DELAY=later\n');
    expect(problems({ legacyConf: badValue, env: {} })).toEqual([
      `renewal.retry.delay: expected a duration such as 30d, 12h, 5m or a number of seconds, got "later" (from ${badValue}:2 CERT_RENEWAL_RETRY_DELAY)`,
    ]);
  });

  test('displayConfig hides the webhook secret and shows thresholds as written', () => {
    const shown = JSON.stringify(displayConfig(loadConfig({ env }).config));
    expect(shown).not.toContain('SECRET');
    expect(shown).toContain('https://hooks.example.com/<redacted>');
    expect(shown).toContain('"warning":"30d"');
  });
});

test('domains: a U-label is watched as its A-label; both forms name one domain', () => {
  expect(configSchema.parse({ domains: ['Bücher.Example', 'xn--bcher-kva.example'] }).domains).toEqual(['xn--bcher-kva.example', 'xn--bcher-kva.example']);
});
