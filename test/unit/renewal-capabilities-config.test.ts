/**
 * The config of issue 18's capabilities: per-name challenge rules (patterns, first match wins, a
 * wildcard needs dns-01, a name no rule matches), rfc2136 (defaults, relative secretFile, bad
 * values named), renewal.key, renewal.hooks, rsa-3072, wildcard names in certificate groups.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig } from '../../src/config';
import { matchesPattern } from '../../src/config/challenge-match';
import { challengeFor, type AcmeIssuerConfig } from '../../src/config/renewal-schema';
import { challengePlan } from '../../src/commands/challenge-plan';
import { ConfigError } from '../../src/shared/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-cap-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function load(renewal: unknown) {
  const file = path.join(tmp, `c${Math.random().toString(36).slice(2)}.yml`);
  fs.writeFileSync(file, YAML.stringify({ renewal }));
  return loadConfig({ file, env: {} }).config.renewal;
}

function problems(renewal: unknown): readonly string[] {
  try {
    load(renewal);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const rfc2136 = { server: '192.0.2.53', tsig: { name: 'acme', secretFile: 'acme.key' } };
const rules = [
  { match: 'example.org', type: 'http-01', webroot: 'www' },
  { match: ['*.example.org', 'example.net'], type: 'dns-01', rfc2136 },
];

describe('patterns', () => {
  test.each([
    ['example.org', 'example.org', true],
    ['example.org', 'conference.example.org', false],
    ['*.example.org', 'conference.example.org', true],
    ['*.example.org', 'a.b.example.org', true],
    ['*.example.org', '*.example.org', true],
    ['*.example.org', 'example.org', false],
    ['*.example.org', 'badexample.org', false],
    ['*', 'anything.example', true],
    ['Example.ORG.', 'example.org', true],
  ])('%s matches %s: %s', (pattern, name, expected) => expect(matchesPattern(pattern, name)).toBe(expected));
});

describe('challenge rules', () => {
  test('first match wins; rfc2136 gets its defaults and an absolute secretFile', () => {
    const renewal = load({ issuers: [{ type: 'acme', challenge: rules }] });
    const challenge = (renewal.issuers[0] as AcmeIssuerConfig).challenge;
    expect(challengeFor(challenge, 'example.org')).toMatchObject({ type: 'http-01', webroot: path.join(tmp, 'www') });
    expect(challengeFor(challenge, 'upload.example.org')).toMatchObject({
      type: 'dns-01',
      rfc2136: {
        server: '192.0.2.53',
        port: 53,
        ttl: 60,
        propagationTimeout: 120,
        tsig: { name: 'acme', algorithm: 'hmac-sha256', secretFile: path.join(tmp, 'acme.key') },
      },
    });
    expect(challengeFor(challenge, 'example.net')?.type).toBe('dns-01');
    expect(challengeFor(challenge, 'example.com')).toBeUndefined();
  });

  test('config check plan: one line per name and issuer; no match and wildcard-over-http-01 are problems', () => {
    const renewal = load({
      issuers: [
        { type: 'acme', challenge: rules },
        { type: 'acme', challenge: { type: 'http-01', listen: ':80' } },
      ],
    });
    const [issuer, http] = renewal.issuers.map((config, i) => ({ name: ['ca', 'web'][i]!, config: config as AcmeIssuerConfig }));
    const plan = challengePlan([issuer!, http!], [{ name: 'example.org', domains: ['example.org', 'conference.example.org', '*.example.org', 'example.com'] }]);
    expect(plan.lines).toContain(`example.org (group example.org, issuer ca): http-01, webroot ${path.join(tmp, 'www')}`);
    expect(plan.lines).toContain('conference.example.org (group example.org, issuer ca): dns-01, RFC 2136 update at 192.0.2.53:53 with key acme');
    expect(plan.lines).toContain('conference.example.org (group example.org, issuer web): http-01, standalone on :80');
    expect(plan.problems).toEqual([
      'example.com: no challenge entry of issuer ca matches it; add one (or a last entry with match: "*")',
      '*.example.org: a wildcard needs dns-01, but issuer web gives it http-01',
    ]);
  });

  test('a configured wildcard that would get http-01, or a configured name no rule matches, is refused at load', () => {
    const certificates = [{ name: 'example.org', domains: ['example.org', '*.example.org', 'example.com'] }];
    expect(problems({ certificates, issuers: [{ type: 'acme', challenge: rules }] })).toEqual([
      'renewal.issuers[0].challenge: no entry matches example.com (renewal.certificates[0].domains[2]); add one, or a last entry with match: "*"',
    ]);
    expect(problems({ certificates, issuers: [{ type: 'acme', challenge: { type: 'http-01', listen: ':80' } }] })).toEqual([
      'renewal.issuers[0].challenge: *.example.org (renewal.certificates[0].domains[1]) is a wildcard and needs dns-01, but gets http-01',
    ]);
  });

  test.each([
    [{ challenge: [] }, 'renewal.issuers[0].challenge: expected at least one {match: PATTERN, ...} entry'],
    [{ challenge: [{ type: 'http-01', listen: ':80' }] }, 'renewal.issuers[0].challenge'],
    [{ challenge: { type: 'dns-01', rfc2136: { ...rfc2136, tsig: { ...rfc2136.tsig, algorithm: 'hmac-md5' } } } }, 'renewal.issuers[0].challenge'],
    [{ challenge: { type: 'dns-01', rfc2136: { server: 'ns1' } } }, 'renewal.issuers[0].challenge'],
    [{ challenge: [{ match: 'a b', type: 'http-01', listen: ':80' }] }, 'renewal.issuers[0].challenge'],
  ])('refused: %j', (issuer, prefix) => {
    const found = problems({ issuers: [{ type: 'acme', ...issuer }] });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`^${prefix.replace(/[[\]{}.*]/g, '\\$&')}`));
  });
});

describe('key, hooks, key types, wildcard names', () => {
  test('defaults: no reuse, no hooks', () => {
    const renewal = load({});
    expect(renewal.key).toEqual({ reuse: false });
    expect(renewal.hooks).toEqual({});
  });

  test('key.reuse with maxAge, hooks as argument lists, rsa-3072, a wildcard name', () => {
    const renewal = load({
      key: { reuse: true, maxAge: '180d' },
      hooks: { pre: ['systemctl', 'stop', 'nginx'], post: ['systemctl', 'start', 'nginx'] },
      issuers: [{ type: 'acme', keyType: 'rsa-3072', challenge: { type: 'dns-01', rfc2136 } }],
      certificates: [{ name: 'example.org', domains: ['example.org', '*.Example.org'] }],
    });
    expect(renewal.key).toEqual({ reuse: true, maxAge: 180 * 86400 });
    expect(renewal.hooks.pre).toEqual(['systemctl', 'stop', 'nginx']);
    expect(renewal.issuers[0]!.keyType).toBe('rsa-3072');
    expect(renewal.certificates![0]!.domains).toEqual(['example.org', '*.example.org']);
  });

  test.each([
    [{ key: { reuse: 'maybe' } }, 'renewal.key.reuse: expected true or false, got "maybe"'],
    [{ key: { reuse: true, maxAge: '1h' } }, 'renewal.key.maxAge: expected a duration such as 30d, 12h, 5m or a number of seconds (at least 86400s), got "1h"'],
    [{ key: { rotate: true } }, 'renewal.key.rotate: unknown key (check the spelling against docs/config.md)'],
    [{ hooks: { pre: 'systemctl stop nginx' } }, 'renewal.hooks.pre: expected a list, got "systemctl stop nginx"'],
    [{ hooks: { deploy: ['x'] } }, 'renewal.hooks.deploy: unknown key (check the spelling against docs/config.md)'],
    [
      { certificates: [{ name: 'a', domains: ['*.*.example.org'] }] },
      'renewal.certificates[0].domains[0]: expected a domain name such as example.org, or a wildcard such as *.example.org, got "*.*.example.org"',
    ],
  ])('refused: %j', (renewal, message) => expect(problems(renewal)).toEqual([message]));
});
