/**
 * Every field the schemas mark secret (config/secret.ts), found by walking the config schema and
 * web-config.yml's, through every output: `xmpp-cert config` (the real command), config errors
 * (bad values of the field itself, of a neighbour, from a file, the environment and the seed's
 * .conf, printed by the real `config check`), and log lines (the config logged whole, the value
 * under its own key at any depth, in a message, in an error, in a child logger's bindings). A field
 * marked later is picked up by the walk; its example value is built from its kind and shape.
 */
import { Writable } from 'node:stream';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { configSchema, displayConfig, loadConfig } from '../../src/config';
import { secretFields, type SecretField } from '../../src/config/secret';
import { loadWebConfig, webConfigSchema } from '../../src/http/web-config';
import { createLogger } from '../../src/shared/log';
import { censorUrls } from '../../src/shared/secrets';
import { runCli } from '../helpers/process';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-secrets-'));
let files = 0;
const write = (text: string, ext = 'yml') => {
  const file = path.join(root, `f${files++}.${ext}`);
  fs.writeFileSync(file, text);
  return file;
};

/** A valid config with a webhook and an ACME issuer with EAB, so every secret field has a place. */
const base = () => ({
  prosody: { config: null },
  probes: { enabled: false },
  notify: { webhooks: [{ url: 'https://hooks.example.org/services/base', headers: { 'X-Base': 'base-header' } }] },
  renewal: { issuers: [{ type: 'acme', directory: 'https://acme.example.org/dir', eab: { kid: 'kid-1', hmacKey: 'base-hmac-key' } }] },
});

const CONFIG_FIELDS = secretFields(configSchema);
const WEB_FIELDS = secretFields(webConfigSchema);
const name = (f: SecretField) => f.path.join('.');

const tokenFor = (field: SecretField) => `SECRET${name(field).replace(/[^a-z]/gi, '')}${Math.random().toString(36).slice(2, 10)}`;

/** A token unique to a field, and a value of that field's kind that carries it. */
function example(field: SecretField) {
  const token = tokenFor(field);
  const value =
    field.kind === 'url'
      ? `https://user:${token}P@hooks.example.org/services/${token}?key=${token}Q`
      : field.schema._zod.def.type === 'record'
        ? { 'X-Secret': `Bearer ${token}` }
        : token;
  return { token, value };
}

/** A well-formed bcrypt hash (it matches no password) carrying the field's token. */
function hashExample(field: SecretField) {
  const token = tokenFor(field);
  return { token, value: `$2y$10$${(token + 'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz').slice(0, 53)}` };
}

/** `raw` with `value` at the field's path: the first item of a list, the key X-Secret of a mapping. */
function place(raw: unknown, fieldPath: readonly string[], value: unknown): unknown {
  if (fieldPath.length === 0) return value;
  const [head, ...rest] = fieldPath as [string, ...string[]];
  if (head === '[]') {
    const list = Array.isArray(raw) && raw.length > 0 ? [...(raw as unknown[])] : [{}];
    list[0] = place(list[0], rest, value);
    return list;
  }
  const node = typeof raw === 'object' && raw !== null ? { ...(raw as Record<string, unknown>) } : {};
  const key = head === '*' ? 'X-Secret' : head;
  node[key] = place(node[key], rest, value);
  return node;
}

const logged = () => {
  let text = '';
  const stream = new Writable({ write: (chunk: Buffer, _enc, done) => ((text += chunk.toString()), done()) });
  return { log: createLogger('debug', stream), text: () => text };
};

/** What every output must not show: the token, and for a URL its path, query and user info. */
function expectHidden(output: string, token: string, where: string) {
  expect({ where, leaked: output.includes(token) }).toEqual({ where, leaked: false });
}

test('the walk finds the secret fields (a newly marked field joins every test below)', () => {
  expect(CONFIG_FIELDS.map(name).sort()).toEqual([
    'notify.email.password',
    'notify.webhooks.[].headers',
    'notify.webhooks.[].url',
    'renewal.issuers.[].eab.hmacKey',
  ]);
  expect(WEB_FIELDS.map(name)).toEqual(['basic_auth_users.*']);
});

describe.each(CONFIG_FIELDS.map((f) => [name(f), f] as const))('config field %s', (_name, field) => {
  const { token, value } = example(field);
  const raw = place(base(), field.path, value);
  const lastKey = field.path.filter((s) => s !== '[]' && s !== '*').pop()!;
  // notify.email.password is refused whatever its value: no config holding it ever loads.
  const loads = field.path.at(-1) !== 'password';

  test('`xmpp-cert config` shows none of it (a URL: scheme and host only)', () => {
    const file = write(JSON.stringify(raw));
    const shown = runCli(['config', '--config', file]);
    if (!loads) {
      expect(shown.status).toBe(1);
      expectHidden(shown.stdout + shown.stderr, token, 'config');
      return;
    }
    expect(shown.status).toBe(0);
    expectHidden(shown.stdout + shown.stderr, token, 'config');
    expect(displayConfig(loadConfig({ file, env: {} }).config)).toBeDefined();
    if (field.kind === 'url') expect(shown.stdout).toContain('https://hooks.example.org/<redacted>');
    expect(shown.stdout).toContain('<redacted>');
    // The rest of the config is still shown.
    expect(shown.stdout).toContain('kid-1');
  });

  test.each([
    ['the field itself is of the wrong kind', place(base(), field.path, [value])],
    ['a mapping where a value belongs', place(base(), field.path, { a: value })],
    ['a neighbour is wrong', place(place(raw, [...field.path.slice(0, -1), 'noSuchKey'], value), ['scan', 'interval'], value)],
    [
      'the field in an http:// URL or as a broken URL',
      place(base(), field.path, field.kind === 'url' ? `htps//hooks.example.org/${token}?t=${token}` : `http://x.example/${token}`),
    ],
  ])('a config error (%s) names the key and shows none of it', (_case, bad) => {
    const file = write(YAML.stringify(bad));
    const checked = runCli(['config', 'check', '--config', file]);
    const output = checked.stdout + checked.stderr;
    if (checked.status === 0) {
      // Some wrong values are still valid here (any string is a valid key); then no error can leak it.
      expect(output).toContain('configuration OK');
      return;
    }
    expect(output).toMatch(/invalid configuration/);
    expectHidden(output, token, 'config check');
    expect(output).not.toMatch(/Error: |at .*\.js:\d+/); // no stack trace
  });

  test('no log line shows it: the config logged whole, under its key at any depth, in a message, an error, a binding', () => {
    let config: unknown = raw;
    try {
      config = loadConfig({ file: write(JSON.stringify(raw)), env: {} }).config;
    } catch {
      expect(loads).toBe(false); // the refused password: its raw value was still handed to the logger
    }
    const { log, text } = logged();
    const shownValue = typeof value === 'string' ? value : JSON.stringify(value);
    log.info({ config }, 'the config VISIBLE-1');
    log.info({ a: { b: { c: { d: { e: { [lastKey]: 'hidden by name', other: 'VISIBLE-2' } } } } } }, 'deep');
    log.warn(`delivery to ${shownValue} failed`);
    log.error({ err: new Error(`cannot reach ${shownValue}`) }, 'failed');
    log.child({ target: shownValue }).info('child VISIBLE-3');
    const out = text();
    expectHidden(out, token, 'log');
    expect(out).not.toContain('hidden by name');
    for (const visible of ['VISIBLE-1', 'VISIBLE-2', 'VISIBLE-3']) expect(out).toContain(visible);
  });
});

describe.each(WEB_FIELDS.map((f) => [name(f), f] as const))('web-config.yml field %s', (_name, field) => {
  const { token, value } = hashExample(field);
  const webFile = (users: unknown) => write(YAML.stringify({ basic_auth_users: users }));

  test('errors show none of it: a malformed hash, a cost above the maximum, a neighbour wrong', () => {
    const cases = [{ u: `${value}x` }, { u: value.replace('$10$', '$15$') }, { u: value, v: 'not-a-hash' }, { u: [value] }];
    for (const users of cases) {
      let message = '';
      try {
        loadWebConfig(webFile(users));
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/basic_auth_users\.[uv]/);
      expectHidden(message, token, 'web-config error');
    }
  });

  test('no log line shows it once web-config.yml is loaded', () => {
    loadWebConfig(webFile({ prometheus: value }));
    const { log, text } = logged();
    log.info({ users: { prometheus: value } }, `users VISIBLE-1 ${value}`);
    expectHidden(text(), token, 'log');
    expect(text()).toContain('VISIBLE-1');
  });
});

describe('config errors never quote a URL user info, path or query', () => {
  test.each([
    ['the environment (CERT_WEBHOOK_URL)', { file: write('{}\n'), env: { CERT_WEBHOOK_URL: 'hooks.slack.com/services/T0/B0/ENVTOKEN12345' } }],
    ['the seed .conf', { file: write('{}\n'), legacyConf: write('CERT_WEBHOOK_URL https://hooks.slack.com/services/T0/B0/ENVTOKEN12345\n', 'conf'), env: {} }],
    [
      'a URL in a field that is not secret',
      { file: write('renewal:\n  issuers: [{type: acme, directory: https://u:ENVTOKEN12345@acme.example/dir, nope: 1}]\n'), env: {} },
    ],
  ])('%s', (_case, options) => {
    expect(() => loadConfig(options)).toThrow(/invalid configuration|expected KEY=VALUE/);
    try {
      loadConfig(options);
    } catch (err) {
      expect((err as Error).message).not.toContain('ENVTOKEN12345');
    }
  });

  test('censorUrls keeps scheme and host only where there is more', () => {
    expect(censorUrls('see https://a.example/p?q=1 and http://b.example/ and ftp://u:p@c.example')).toBe(
      'see https://a.example/<redacted> and http://b.example/ and ftp://c.example/<redacted>',
    );
  });
});
