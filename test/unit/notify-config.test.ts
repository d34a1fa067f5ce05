/**
 * The `notify` config section: defaults, the seed's CERT_ALERT_EMAIL / CERT_WEBHOOK_URL, errors
 * that name the key (and never show a secret value), redaction in `xmpp-cert config`, and which
 * channels a config turns on.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { displayConfig, loadConfig } from '../../src/config';
import { ConfigError } from '../../src/shared/errors';
import { createChannels } from '../../src/notify/channels';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-notify-config-'));
const write = (text: string) => {
  const file = path.join(tmp, `c${Math.random().toString(36).slice(2)}.yml`);
  fs.writeFileSync(file, text);
  return file;
};
const load = (yaml: string, env: Record<string, string> = {}) => loadConfig({ file: write(yaml), env }).config;
const problems = (yaml: string, env: Record<string, string> = {}): readonly string[] => {
  try {
    load(yaml, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

test('defaults: no channel, every event routed, dedupe 6h, digest 60s, maxAge 24h', () => {
  const { notify } = load('{}\n');
  expect(notify).toMatchObject({ webhooks: [], dedupe: 21600, digestWindow: 60, maxAge: 86400, retry: { initial: 60, max: 3600 } });
  expect(notify.email).toMatchObject({
    secure: false,
    ca: [],
    timeout: 30,
    events: ['renewal_succeeded', 'renewal_failed', 'fallback_in_use', 'verify_failed'],
  });
  expect(createChannels(loadConfig({ env: {} }).config).channels).toEqual([]);
});

test("the seed's CERT_ALERT_EMAIL and CERT_WEBHOOK_URL turn on an e-mail and a webhook channel", () => {
  const config = load('{}\n', { CERT_ALERT_EMAIL: 'ops@example.org', CERT_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/SECRET' });
  expect(config.notify.email.to).toBe('ops@example.org');
  expect(config.notify.webhooks).toEqual([expect.objectContaining({ url: 'https://hooks.slack.com/services/T/B/SECRET', format: 'slack' })]);
  const { channels } = createChannels(config);
  expect(channels.map((c) => c.label)).toEqual(['email', 'webhook:0']);
  // The local MTA, as the seed's `mail` used: port 25, STARTTLS only if offered.
  expect(channels[0]!.describe()).toBe('to ops@example.org via localhost:25 (STARTTLS if offered, unverified)');
  expect(channels[1]!.describe()).toBe('slack webhook at https://hooks.slack.com/<redacted>');
});

test('the recipient falls back to renewal.email (LETSENCRYPT_EMAIL) once an SMTP host is set; the ACME contact alone sends no mail', () => {
  expect(createChannels(load('{}\n', { LETSENCRYPT_EMAIL: 'le@example.org' })).channels).toEqual([]);
  const withHost = createChannels(load('notify:\n  email:\n    host: smtp.example.org\n', { LETSENCRYPT_EMAIL: 'le@example.org' }));
  expect(withHost.channels[0]!.describe()).toBe('to le@example.org via smtp.example.org:587 (STARTTLS)');
  const nobody = createChannels(load('notify:\n  email:\n    host: smtp.example.org\n'));
  expect(nobody.channels).toEqual([]);
  expect(nobody.warnings).toEqual([expect.stringContaining('no recipient: set notify.email.to')]);
});

test('formats default from the URL; names label the channel', () => {
  const config = load(
    [
      'notify:',
      '  webhooks:',
      '    - url: https://discord.com/api/webhooks/1/abc',
      '    - url: https://chat.example.org/hooks/xyz',
      '      name: mattermost',
      '      format: slack',
      '    - url: https://events.example.org/in',
    ].join('\n') + '\n',
  );
  expect(config.notify.webhooks.map((h) => h.format)).toEqual(['discord', 'slack', 'generic']);
  expect(createChannels(config).channels.map((c) => c.label)).toEqual(['webhook:0', 'webhook:mattermost', 'webhook:2']);
});

describe('bad values are rejected with their key, never with a secret value', () => {
  test.each([
    [
      'notify:\n  webhooks:\n    - url: http://hooks.example.org/T0KEN\n',
      'notify.webhooks[0].url: http://hooks.example.org/<redacted>: an http:// URL sends the webhook and its token unencrypted; use https://, or set allowInsecure: true for this webhook',
    ],
    [
      'notify:\n  email:\n    password: hunter2\n',
      'notify.email.password: a password is never kept in the config file: put it in a file named by notify.email.passwordFile, or in XMPP_CERT_SMTP_PASSWORD',
    ],
    [
      'notify:\n  webhooks:\n    - url: https://x.example/h\n      headers: {Authorization: 12345}\n',
      'notify.webhooks[0].headers.Authorization: expected a string (the value is not shown: it may be a secret)',
    ],
    [
      'notify:\n  webhooks:\n    - url: https://x.example/h\n      headers: {"bad name": x}\n',
      'notify.webhooks[0].headers.bad name: expected an HTTP header name (letters, digits, -), got "bad name"',
    ],
    [
      'notify:\n  webhooks:\n    - url: https://x.example/h\n      format: teams\n',
      'notify.webhooks[0].format: expected one of slack, discord, generic, got "teams"',
    ],
    [
      'notify:\n  email:\n    events: [renewal_exploded]\n',
      'notify.email.events[0]: expected one of renewal_succeeded, renewal_failed, fallback_in_use, verify_failed, got "renewal_exploded"',
    ],
    [
      'notify:\n  email:\n    host: smtp.example.org\n    user: bob\n    requireTLS: false\n',
      'notify.email.requireTLS: false would send the password for bob unencrypted to smtp.example.org; use secure: true or requireTLS: true',
    ],
    ['notify:\n  email:\n    port: 99999\n', 'notify.email.port: expected a port from 1 to 65535'],
    ['notify:\n  dedupe: often\n', 'notify.dedupe: expected a duration such as 30d, 12h, 5m or a number of seconds, got "often"'],
    [
      'notify:\n  webhooks:\n    - {url: "https://a.example/1", name: a}\n    - {url: "https://a.example/2", name: a}\n',
      'notify.webhooks[1].name: "a" names another webhook too; names must be unique',
    ],
  ])('%s', (yaml, message) => {
    const found = problems(yaml);
    expect(found).toEqual([message]);
    expect(found.join()).not.toMatch(/T0KEN|hunter2|12345/);
  });

  test('an http:// CERT_WEBHOOK_URL names the variable; allowInsecure accepts http:// in the file', () => {
    expect(problems('{}\n', { CERT_WEBHOOK_URL: 'http://hooks.example.org/T0KEN' })).toEqual([
      expect.stringMatching(/^notify\.webhooks\[0\]\.url: .* \(from environment variable CERT_WEBHOOK_URL\)$/),
    ]);
    expect(load('notify:\n  webhooks:\n    - {url: "http://127.0.0.1:8080/in", allowInsecure: true}\n').notify.webhooks[0]!.allowInsecure).toBe(true);
  });
});

test('paths are resolved against the config file; `config` output hides URLs and header values', () => {
  const config = load(
    [
      'notify:',
      '  email: {to: ops@example.org, host: smtp.example.org, user: alerts, passwordFile: secrets/smtp, ca: [ca.pem]}',
      '  webhooks:',
      '    - url: https://hooks.example.org/services/T0KEN',
      '      headers: {Authorization: "Bearer HEADER-SECRET"}',
    ].join('\n') + '\n',
  );
  expect(config.notify.email).toMatchObject({ passwordFile: path.join(tmp, 'secrets/smtp'), ca: [path.join(tmp, 'ca.pem')] });
  const shown = JSON.stringify(displayConfig(config));
  expect(shown).not.toMatch(/T0KEN|HEADER-SECRET/);
  expect(shown).toContain('"url":"https://hooks.example.org/<redacted>"');
  expect(shown).toContain('"Authorization":"<redacted>"');
});
