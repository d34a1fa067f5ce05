/**
 * prosody.cfg.lua reading (a real Lua parser; sections, options, Includes as configmanager does)
 * and Prosody 0.12's certificate lookup per host and service (certmanager, mod_tls, portmanager),
 * on facts built in the test. The agreement suite (test/integration/agreement-*.test.ts) checks the
 * same rules against the real prosodyctl and the certificate the real Prosody serves.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  candidatePaths,
  certificateOption,
  checkCertsView,
  effectiveCertsDir,
  enabledHosts,
  findHostCert,
  identitiesOf,
  loadProsodyConfig,
  parseProsodyConfig,
  serviceLookups,
  type IndexedFile,
  type LookupFacts,
  type ProsodyConfig,
} from '../../src/discovery';
import { DiscoveryError } from '../../src/shared/errors';

const F = 'test.cfg.lua';
const lines = (...l: string[]) => l.join('\n');
const hostsOf = (text: string) =>
  parseProsodyConfig(text, F).hosts.map((h) => ({ name: h.name, kind: h.kind, enabled: h.enabled, line: h.line, module: h.module }));
const opt = (text: string, host: string | undefined, key: string) => {
  const parsed = parseProsodyConfig(text, F);
  return host ? parsed.hosts.find((h) => h.name === host)?.options.get(key) : parsed.global.get(key);
};

describe('parseProsodyConfig (luaparse; configmanager semantics)', () => {
  test('a Debian default config: one host, the commented-out examples ignored', () => {
    const file = path.join(__dirname, '../fixtures/prosody/debian-default.cfg.lua');
    const parsed = parseProsodyConfig(fs.readFileSync(file), file);
    expect(parsed.hosts.map((h) => [h.name, h.line])).toEqual([['localhost', 117]]);
    expect(parsed.global.get('certificates')).toBe('certs');
    expect(parsed.includes).toEqual(['conf.d/*.cfg.lua']);
    expect(parsed.syntaxError).toBeUndefined();
  });

  test('call forms, Components with and without a module, mixed case names', () => {
    const text = lines(
      "VirtualHost('Example.ORG')",
      "Component('upload.example.org') 'http_file_share'",
      'Host "second.example"',
      'Component "gateway.example.org"',
      '  component_secret = "s3cret"',
      'component "pubsub.example.org" "pubsub"',
    );
    expect(hostsOf(text)).toEqual([
      { name: 'example.org', kind: 'VirtualHost', enabled: true, line: 1, module: undefined },
      { name: 'upload.example.org', kind: 'Component', enabled: true, line: 2, module: 'http_file_share' },
      { name: 'second.example', kind: 'VirtualHost', enabled: true, line: 3, module: undefined },
      { name: 'gateway.example.org', kind: 'Component', enabled: true, line: 4, module: undefined },
      { name: 'pubsub.example.org', kind: 'Component', enabled: true, line: 6, module: 'pubsub' },
    ]);
  });

  test('U-label names are kept in nameprep form, with the A-label beside them', () => {
    const [host] = parseProsodyConfig('VirtualHost "Bücher.Example"\n', F).hosts;
    expect(host).toMatchObject({ name: 'bücher.example', domain: 'xn--bcher-kva.example' });
  });

  test('enabled: own section, else the global section; comparisons and table fields do not count', () => {
    const text = lines(
      'enabled = false',
      'VirtualHost "off.example"',
      '  if enabled == false then end',
      '  http_paths = { enabled = true }',
      'VirtualHost "on.example"',
      '  enabled = true',
    );
    expect(hostsOf(text).map((h) => [h.name, h.enabled])).toEqual([
      ['off.example', false],
      ['on.example', true],
    ]);
  });

  test('comments and strings: only real statements count, line numbers stay right', () => {
    const text = lines(
      '--[[',
      'VirtualHost "hidden.example"',
      ']]',
      'motd_text = "VirtualHost \\"fake.example\\" -- not a host"',
      '  welcome_message = [[',
      'VirtualHost "in-long-string.example"',
      ']]',
      'VirtualHost "real.example" -- a trailing comment',
    );
    expect(hostsOf(text).map((h) => [h.name, h.line])).toEqual([['real.example', 8]]);
  });

  test('ssl tables: nested tables, port keys, list items, concatenated literals; computed values are marked; each field has its line', () => {
    const text = lines(
      'ssl = { certificate = "/etc/ssl/" .. "all.crt";',
      '        key = "/etc/ssl/all.key" }',
      'c2s_direct_tls_ssl = { [5223] = { certificate = "certs/direct.crt" }, ["127.0.0.1"] = { key = "k" } }',
      'c2s_direct_tls_ports = { 5223, 5224 }',
      'VirtualHost "a.example"',
      '  ssl = { certificate = ENV_CERTS .. "/a.crt" }',
    );
    const ssl = opt(text, undefined, 'ssl');
    expect(ssl).toEqual({
      kind: 'table',
      fields: new Map([
        ['certificate', '/etc/ssl/all.crt'],
        ['key', '/etc/ssl/all.key'],
      ]),
      lines: new Map([
        ['certificate', 1],
        ['key', 2],
      ]),
    });
    const direct = opt(text, undefined, 'c2s_direct_tls_ssl');
    expect(direct).toMatchObject({ kind: 'table' });
    const fields = (direct as { fields: Map<string | number, unknown> }).fields;
    expect(fields.get(5223)).toEqual({ kind: 'table', fields: new Map([['certificate', 'certs/direct.crt']]), lines: new Map([['certificate', 3]]) });
    expect(fields.get('127.0.0.1')).toEqual({ kind: 'table', fields: new Map([['key', 'k']]), lines: new Map([['key', 3]]) });
    expect(opt(text, undefined, 'c2s_direct_tls_ports')).toMatchObject({
      kind: 'table',
      fields: new Map([
        [1, 5223],
        [2, 5224],
      ]),
    });
    expect(opt(text, 'a.example', 'ssl')).toEqual({
      kind: 'table',
      fields: new Map([['certificate', { kind: 'computed', line: 6 }]]),
      lines: new Map([['certificate', 6]]),
    });
  });

  test('table-form hosts and VirtualHost "*" return to the global section; local variables are no options', () => {
    const text = lines(
      'VirtualHost "t.example" { enabled = false; certificate = "t.crt" }',
      'certificate = "global.pem"',
      'VirtualHost "u.example"',
      '  local certificate = "/not/an/option.crt"',
      'VirtualHost "*"',
      'certificates = "/late/certs"',
    );
    const parsed = parseProsodyConfig(text, F);
    expect(parsed.hosts.map((h) => [h.name, h.enabled, h.certificate])).toEqual([
      ['t.example', false, 't.crt'],
      ['u.example', true, undefined],
    ]);
    expect(parsed.global.get('certificate')).toBe('global.pem');
    expect(parsed.global.get('certificates')).toBe('/late/certs');
  });

  test('a Lua syntax error is data, never a throw', () => {
    for (const text of ['VirtualHost "unterminated', '--[[ never closed\nx = (', 'Component (', 'ssl = { certificate = "a" ']) {
      const parsed = parseProsodyConfig(text, F);
      expect(parsed.syntaxError).toMatchObject({ line: expect.any(Number) as number, message: expect.any(String) as string });
    }
    expect(parseProsodyConfig('', F)).toMatchObject({ hosts: [], includes: [] });
  });
});

describe('loadProsodyConfig', () => {
  let dir: string;
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
    return path.join(dir, rel);
  };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'discovery-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('follows a conf.d glob and nested relative Includes, merges redefined hosts key by key', async () => {
    const main = write('prosody.cfg.lua', 'certificates = "certs"\nVirtualHost "localhost"\n  ssl = { certificate = "a.crt" }\nInclude "conf.d/*.cfg.lua"\n');
    const a = write('conf.d/a.cfg.lua', 'VirtualHost "example.org"\nComponent "conference.example.org" "muc"\ninclude "more/x.lua"\n');
    const x = write('conf.d/more/x.lua', 'VirtualHost "x.example"\n');
    const b = write('conf.d/b.cfg.lua', 'VirtualHost "localhost"\n  enabled = false\n');
    write('conf.d/.hidden.cfg.lua', 'VirtualHost "hidden.example"\n');
    write('conf.d/notes.txt', 'VirtualHost "notes.example"\n');

    const cfg = await loadProsodyConfig(main);
    expect(cfg.hosts.map((h) => [h.name, h.kind, h.enabled, h.file, h.line])).toEqual([
      ['localhost', 'VirtualHost', false, main, 2],
      ['example.org', 'VirtualHost', true, a, 1],
      ['conference.example.org', 'Component', true, a, 2],
      ['x.example', 'VirtualHost', true, x, 1],
    ]);
    expect(cfg.byName.get('localhost')!.options.get('ssl')).toMatchObject({ kind: 'table' });
    expect(cfg.files).toEqual([main, a, x, b]);
    expect(cfg.warnings).toEqual([]);
    expect(enabledHosts(cfg).map((h) => h.name)).toEqual(['example.org', 'conference.example.org', 'x.example']);
    expect(effectiveCertsDir(cfg)).toBe(path.join(dir, 'certs'));
  });

  test('an include cycle is read once and reported', async () => {
    const main = write('prosody.cfg.lua', 'VirtualHost "a.example"\nInclude "b.lua"\n');
    const b = write('b.lua', 'VirtualHost "b.example"\nInclude "prosody.cfg.lua"\n');
    const cfg = await loadProsodyConfig(main);
    expect(cfg.files).toEqual([main, b]);
    expect(cfg.hosts.map((h) => h.name)).toEqual(['a.example', 'b.example']);
    expect(cfg.warnings).toEqual([`${b}:2: Include of ${main} is an include cycle; skipped it`]);
  });

  test('an Include that cannot be read, lists nothing or matches nothing is a warning naming it', async () => {
    write('empty.d/readme.txt', '');
    const main = write('prosody.cfg.lua', 'VirtualHost "a.example"\nInclude "missing.lua"\nInclude "nodir/*.lua"\nInclude "empty.d/*.cfg.lua"\n');
    const cfg = await loadProsodyConfig(main);
    expect(cfg.hosts.map((h) => h.name)).toEqual(['a.example']);
    expect(cfg.warnings).toEqual([
      expect.stringContaining(`${main}:2: cannot read included ${path.join(dir, 'missing.lua')}: ENOENT`),
      expect.stringContaining(`${main}:3: cannot list ${path.join(dir, 'nodir')} for Include "nodir/*.lua": ENOENT`),
      `${main}:4: Include "empty.d/*.cfg.lua" matches no file in ${path.join(dir, 'empty.d')}`,
    ]);
  });

  test('a FIFO Include is refused by type, without blocking', async () => {
    const fifo = path.join(dir, 'fifo.lua');
    execFileSync('mkfifo', [fifo]);
    const main = write('prosody.cfg.lua', 'VirtualHost "a.example"\nInclude "fifo.lua"\n');
    const cfg = await loadProsodyConfig(main);
    expect(cfg.warnings).toEqual([expect.stringContaining(`${fifo} is a FIFO (named pipe), not a regular file`)]);
  });

  test('options resolve against the main file; Prosody defaults to certs/ when unset', async () => {
    const main = write('etc/prosody.cfg.lua', 'certificate = "tls/all.pem"\nVirtualHost "a.example"\n  certificate = "/abs/a.crt"\n');
    const cfg = await loadProsodyConfig(main);
    expect(cfg.certificatesDir).toBeUndefined();
    expect(effectiveCertsDir(cfg)).toBe(path.join(dir, 'etc/certs'));
    expect(cfg.certificate).toBe(path.join(dir, 'etc/tls/all.pem'));
    expect(certificateOption(cfg, 'a.example')).toBe('/abs/a.crt');
    expect(certificateOption(cfg, 'example')).toBe(path.join(dir, 'etc/tls/all.pem'));
  });

  test('a missing main file, a FIFO or a syntax error (in an Included file too) throws a DiscoveryError naming the file', async () => {
    const missing = path.join(dir, 'nope.cfg.lua');
    const err = await loadProsodyConfig(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiscoveryError);
    expect((err as DiscoveryError).file).toBe(missing);
    expect((err as DiscoveryError).message).toContain(`cannot read the Prosody config ${missing}: ENOENT`);
    const bad = write('bad.cfg.lua', 'VirtualHost "a.example"\nInclude "inc.lua"\n');
    const inc = write('inc.lua', 'ssl = { certificate = "x"\n');
    const syntax = await loadProsodyConfig(bad).catch((e: unknown) => e);
    expect((syntax as DiscoveryError).message).toMatch(new RegExp(`^${inc}:2: Lua syntax error: .*refuses to start`));
  });

  test('a later section that does not set enabled keeps the earlier enabled = false', async () => {
    const main = write('prosody.cfg.lua', 'VirtualHost "a.example"\n  enabled = false\nInclude "extra.cfg.lua"\n');
    write('extra.cfg.lua', 'VirtualHost "a.example"\n  certificate = "a.crt"\n');
    const cfg = await loadProsodyConfig(main);
    expect(cfg.hosts.map((h) => [h.name, h.enabled, h.certificate])).toEqual([['a.example', false, path.join(dir, 'a.crt')]]);
    expect(enabledHosts(cfg)).toEqual([]);
  });
});

describe('identities as util/x509 get_identities gives them', () => {
  test('SAN dNSNames in U-label form with wildcards kept, CN for every service, xmppAddr and SRVName not', () => {
    const ids = identitiesOf({
      dnsNames: ['xn--bcher-kva.example', '*.example.org'],
      commonName: 'Example.org',
      xmppAddrs: ['chat.example'],
      srvNames: ['_xmpp-server.s2s.example'],
    });
    expect(ids).toEqual([
      { name: 'bücher.example', any: true },
      { name: '*.example.org', any: true },
      { name: 'chat.example', any: false },
      { name: 's2s.example', any: false },
      { name: 'example.org', any: true },
    ]);
  });
});

describe('Prosody 0.12 certificate lookup (certmanager find_host_cert)', () => {
  const C = '/etc/prosody/certs';
  const facts = (files: string[], indexed: Record<string, string[]> = {}, config?: ProsodyConfig): LookupFacts => ({
    certsDir: C,
    isFile: (p) => files.includes(p),
    indexed: Object.entries(indexed).map(([file, names]): IndexedFile => ({ file, names: names.map((name) => ({ name, any: true })) })),
    ...(config ? { config } : {}),
  });

  test('candidatePaths: .crt+.key, then NAME/fullchain.pem+privkey.pem, then NAME.pem', () => {
    expect(candidatePaths(`${C}/`, 'example.org')).toEqual([
      { cert: `${C}/example.org.crt`, key: `${C}/example.org.key`, via: 'crt' },
      { cert: `${C}/example.org/fullchain.pem`, key: `${C}/example.org/privkey.pem`, via: 'fullchain' },
      { cert: `${C}/example.org.pem`, key: `${C}/example.org.pem`, via: 'pem' },
    ]);
  });

  test.each([
    ['crt + key', [`${C}/example.org.crt`, `${C}/example.org.key`], `${C}/example.org.crt`, `${C}/example.org.key`, 'crt'],
    [
      'fullchain directory',
      [`${C}/example.org/fullchain.pem`, `${C}/example.org/privkey.pem`],
      `${C}/example.org/fullchain.pem`,
      `${C}/example.org/privkey.pem`,
      'fullchain',
    ],
    ['combined .pem', [`${C}/example.org.pem`], `${C}/example.org.pem`, `${C}/example.org.pem`, 'pem'],
    [
      '.crt before fullchain',
      [`${C}/example.org/fullchain.pem`, `${C}/example.org/privkey.pem`, `${C}/example.org.crt`, `${C}/example.org.key`],
      `${C}/example.org.crt`,
      `${C}/example.org.key`,
      'crt',
    ],
  ] as const)('file names: %s', (_n, files, cert, key, via) => {
    expect(findHostCert('Example.ORG', facts([...files]))).toEqual({ host: 'example.org', cert, key, keyFound: true, via, matchedName: 'example.org' });
  });

  test('a Component falls back to its parent domain, down to the last label', () => {
    const f = facts([`${C}/example.org/fullchain.pem`, `${C}/example.org/privkey.pem`, `${C}/org.pem`]);
    expect(findHostCert('conference.example.org', f)).toMatchObject({ cert: `${C}/example.org/fullchain.pem`, matchedName: 'example.org' });
    expect(findHostCert('a.example.net', facts([`${C}/net.pem`]))).toMatchObject({ cert: `${C}/net.pem`, matchedName: 'net' });
  });

  test('index: asked before the file names at every level; a wildcard covers one label, not the name itself', () => {
    const f = facts([`${C}/wild.crt`, `${C}/wild.key`, `${C}/conference.example.org.crt`, `${C}/conference.example.org.key`], {
      [`${C}/wild.crt`]: ['*.example.org'],
    });
    expect(findHostCert('conference.example.org', f)).toMatchObject({
      cert: `${C}/wild.crt`,
      key: `${C}/wild.key`,
      via: 'index',
      matchedName: 'conference.example.org',
    });
    expect(findHostCert('example.org', f)).toBeUndefined();
  });

  test('index: the exact name wins over a wildcard; two files for one name are ambiguous', () => {
    const f = facts([], { [`${C}/w.crt`]: ['*.example.org'], [`${C}/a/fullchain.pem`]: ['muc.example.org'], [`${C}/b/fullchain.pem`]: ['muc.example.org'] });
    expect(findHostCert('muc.example.org', f)).toMatchObject({
      cert: `${C}/a/fullchain.pem`,
      key: `${C}/a/privkey.pem`,
      alternatives: [{ cert: `${C}/b/fullchain.pem`, key: `${C}/b/privkey.pem` }],
    });
  });

  test('index: a name carried only as an xmppAddr does not count, and hides the wildcard', () => {
    const f: LookupFacts = {
      ...facts([]),
      indexed: [
        { file: `${C}/x.crt`, names: [{ name: 'chat.example.org', any: false }] },
        { file: `${C}/w.crt`, names: [{ name: '*.example.org', any: true }] },
      ],
    };
    expect(findHostCert('chat.example.org', f)).toBeUndefined();
  });

  test('the certificate option: a file first, or a directory used instead of certsDir', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookup-'));
    const main = path.join(dir, 'prosody.cfg.lua');
    fs.writeFileSync(main, 'VirtualHost "a.example"\n  certificate = "/etc/ssl/x/mine.crt"\nVirtualHost "b.example"\n  certificate = "/srv/tls"\n');
    const config = await loadProsodyConfig(main);
    const f = facts(
      [
        '/etc/ssl/x/mine.crt',
        '/etc/ssl/x/mine.key',
        `${C}/a.example.crt`,
        `${C}/a.example.key`,
        '/srv/tls/b.example/fullchain.pem',
        '/srv/tls/b.example/privkey.pem',
      ],
      {},
      config,
    );
    expect(findHostCert('a.example', f)).toMatchObject({ cert: '/etc/ssl/x/mine.crt', key: '/etc/ssl/x/mine.key', via: 'crt' });
    expect(findHostCert('b.example', f)).toMatchObject({ cert: '/srv/tls/b.example/fullchain.pem', via: 'fullchain' });
  });
});

describe('per service: mod_tls, portmanager SNI and prosodyctl check certs', () => {
  let dir: string;
  const C = () => path.join(dir, 'certs');
  const files = (...names: string[]) => names.map((n) => path.join(dir, n));
  async function lookup(configText: string, existing: string[]) {
    fs.writeFileSync(path.join(dir, 'prosody.cfg.lua'), configText);
    const config = await loadProsodyConfig(path.join(dir, 'prosody.cfg.lua'));
    const f: LookupFacts = { certsDir: C(), config, isFile: (p) => existing.includes(p), indexed: [] };
    return (host: string) =>
      Object.fromEntries(
        serviceLookups(host, f).map((s) => [`${s.service}:${s.ports.join(',')}`, s.cert ? [s.cert.cert, s.cert.key, s.cert.setBy ?? 'auto'] : s.unknown]),
      );
  }
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'services-'));
  });

  const auto = ['certs/a.example.crt', 'certs/a.example.key'];

  test('no tables: every service uses what find_host_cert finds; direct TLS only where ports are set', async () => {
    const of = await lookup('c2s_direct_tls_ports = { 5223 }\nVirtualHost "a.example"\n', files(...auto));
    const pair = [...files(...auto), 'auto'];
    expect(of('a.example')).toEqual({
      'c2s:5222': pair,
      's2s:5269': pair,
      'c2s_direct_tls:5223': pair,
      's2s_direct_tls:': pair,
      'legacy_ssl:': pair,
      'https:5281': pair,
    });
  });

  test('the host ssl table beats the automatic lookup for STARTTLS, but not on direct TLS (SNI)', async () => {
    const of = await lookup(
      'c2s_direct_tls_ports = 5223\nVirtualHost "a.example"\n  ssl = { certificate = "own.crt", key = "own.key" }\n',
      files(...auto, 'own.crt', 'own.key'),
    );
    const r = of('a.example');
    expect(r['c2s:5222']).toEqual([...files('own.crt', 'own.key'), 'ssl of a.example']);
    expect(r['s2s:5269']).toEqual([...files('own.crt', 'own.key'), 'ssl of a.example']);
    expect(r['c2s_direct_tls:5223']).toEqual([...files(...auto), 'auto']);
  });

  test('precedence for STARTTLS: host c2s_ssl > host ssl > global c2s_ssl > global ssl > automatic; certificate and key merge separately', async () => {
    const text = lines(
      'ssl = { certificate = "g.crt", key = "g.key" }',
      'c2s_ssl = { certificate = "gc2s.crt" }',
      'VirtualHost "a.example"',
      '  s2s_ssl = { key = "hs2s.key" }',
      'VirtualHost "b.example"',
      '  c2s_ssl = { certificate = "hc2s.crt", key = "hc2s.key" }',
      '  ssl = { certificate = "h.crt", key = "h.key" }',
    );
    const of = await lookup(text + '\n', []);
    expect(of('a.example')['c2s:5222']).toEqual([...files('gc2s.crt', 'g.key'), 'c2s_ssl (global)']);
    expect(of('a.example')['s2s:5269']).toEqual([...files('g.crt', 'hs2s.key'), 'ssl (global)']);
    expect(of('b.example')['c2s:5222']).toEqual([...files('hc2s.crt', 'hc2s.key'), 'c2s_ssl of b.example']);
    expect(of('b.example')['s2s:5269']).toEqual([...files('h.crt', 'h.key'), 'ssl of b.example']);
  });

  test('a Component inherits its parent host ssl table (one level up only)', async () => {
    const text =
      'VirtualHost "example.org"\n  ssl = { certificate = "p.crt", key = "p.key" }\nComponent "muc.example.org" "muc"\nComponent "x.muc.example.org" "muc"\n';
    const of = await lookup(text, files('p.crt', 'p.key'));
    expect(of('muc.example.org')['s2s:5269']).toEqual([...files('p.crt', 'p.key'), 'ssl of example.org']);
    expect(of('x.muc.example.org')['s2s:5269']).toBeUndefined();
  });

  test('direct TLS per port: a port entry of the global <service>_ssl sets that port only, and only without a host certificate', async () => {
    const text =
      'c2s_direct_tls_ports = { 5223, 5224 }\nc2s_direct_tls_ssl = { [5224] = { certificate = "p.crt", key = "p.key" } }\nVirtualHost "a.example"\nVirtualHost "none.example"\n';
    const of = await lookup(text, files(...auto, 'p.crt', 'p.key'));
    expect(of('a.example')['c2s_direct_tls:5223,5224']).toEqual([...files(...auto), 'auto']);
    const none = of('none.example');
    expect(none['c2s_direct_tls:5224']).toEqual([...files('p.crt', 'p.key'), 'c2s_direct_tls_ssl (global)[5224]']);
    expect(none['c2s_direct_tls:5223']).toBeUndefined();
  });

  test("a host's own <service>_ssl wins on its direct-TLS port", async () => {
    const text = 'https_ports = { 5281 }\nVirtualHost "a.example"\n  https_ssl = { certificate = "web.crt", key = "web.key" }\n';
    const of = await lookup(text, files(...auto, 'web.crt', 'web.key'));
    expect(of('a.example')['https:5281']).toEqual([...files('web.crt', 'web.key'), 'https_ssl of a.example']);
  });

  test('a computed certificate is said to be unknown, not guessed', async () => {
    const of = await lookup('VirtualHost "a.example"\n  ssl = { certificate = ENV_TLS .. "/a.crt", key = "k" }\n', files(...auto));
    expect(of('a.example')['c2s:5222']).toMatch(/computed at run time \(config line 2\)/);
  });

  test('check certs sees the host or parent ssl and the global ssl, not c2s_ssl', async () => {
    const text = 'c2s_ssl = { certificate = "c.crt", key = "c.key" }\nVirtualHost "a.example"\n';
    fs.writeFileSync(path.join(dir, 'prosody.cfg.lua'), text);
    const config = await loadProsodyConfig(path.join(dir, 'prosody.cfg.lua'));
    const existing = files(...auto, 'c.crt', 'c.key');
    const f: LookupFacts = { certsDir: C(), config, isFile: (p) => existing.includes(p), indexed: [] };
    expect(checkCertsView('a.example', f).cert?.cert).toBe(files(auto[0]!)[0]);
  });
});
