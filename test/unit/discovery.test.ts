import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  candidatePaths,
  certificateOption,
  effectiveCertsDir,
  enabledHosts,
  findHostCert,
  loadProsodyConfig,
  parseProsodyConfig,
  type LookupFacts,
  type ParsedProsodyConfig,
  type ProsodyHost,
} from '../../src/discovery';
import { DiscoveryError } from '../../src/shared/errors';

const F = 'test.cfg.lua';
const vhost = (name: string, line: number, extra: Partial<ProsodyHost> = {}): ProsodyHost => ({
  name,
  kind: 'VirtualHost',
  enabled: true,
  file: F,
  line,
  ...extra,
});
const comp = (name: string, line: number, extra: Partial<ProsodyHost> = {}): ProsodyHost => ({
  name,
  kind: 'Component',
  enabled: true,
  file: F,
  line,
  ...extra,
});
const lines = (...l: string[]) => l.join('\n');

describe('parseProsodyConfig', () => {
  test('a Debian default config: one host, the commented-out examples ignored', () => {
    const file = path.join(__dirname, '../fixtures/prosody/debian-default.cfg.lua');
    expect(parseProsodyConfig(fs.readFileSync(file, 'utf8'), file)).toEqual({
      hosts: [{ name: 'localhost', kind: 'VirtualHost', enabled: true, file, line: 117 }],
      certificates: 'certs',
      includes: ['conf.d/*.cfg.lua'],
    });
  });

  const cases: Array<[string, string, ParsedProsodyConfig]> = [
    [
      'single quotes, call forms and mixed case names',
      lines(
        "certificates = '/etc/prosody/certs'",
        "VirtualHost('Example.ORG')",
        "  certificate = '/etc/ssl/example.org.crt'",
        "Component('upload.example.org') 'http_file_share'",
        'Host "second.example"',
        "include('extra.cfg.lua')",
      ),
      {
        hosts: [
          vhost('example.org', 2, { certificate: '/etc/ssl/example.org.crt' }),
          comp('upload.example.org', 4, { module: 'http_file_share' }),
          vhost('second.example', 5),
        ],
        certificates: '/etc/prosody/certs',
        includes: ['extra.cfg.lua'],
      },
    ],
    [
      'Components with and without a module name',
      lines(
        'VirtualHost "example.org"',
        'Component "conference.example.org" "muc"',
        '  modules_enabled = { "muc_mam" }',
        '  restrict_room_creation = "local"',
        'Component "proxy.example.org" "proxy65"',
        'Component "gateway.example.org"',
        '  component_secret = "s3cret"',
        'component "pubsub.example.org" "pubsub"',
      ),
      {
        hosts: [
          vhost('example.org', 1),
          comp('conference.example.org', 2, { module: 'muc' }),
          comp('proxy.example.org', 5, { module: 'proxy65' }),
          comp('gateway.example.org', 6),
          comp('pubsub.example.org', 8, { module: 'pubsub' }),
        ],
        includes: [],
      },
    ],
    [
      'enabled = false disables its own section; comparisons and table fields do not count',
      lines(
        'enabled = true -- global: the default for hosts that do not set their own',
        'VirtualHost "old.example"',
        '  enabled = false',
        'VirtualHost "new.example"',
        '  if enabled == false then end',
        '  http_paths = { enabled = false }',
        'Component "muc.old.example" "muc"',
        '  enabled = false;',
      ),
      {
        hosts: [vhost('old.example', 2, { enabled: false }), vhost('new.example', 4), comp('muc.old.example', 7, { module: 'muc', enabled: false })],
        enabled: true,
        includes: [],
      },
    ],
    [
      'a global enabled = false disables every host that does not enable itself (hostmanager falls back to the global section)',
      lines('enabled = false', 'VirtualHost "off.example"', 'VirtualHost "on.example"', '  enabled = true'),
      {
        hosts: [vhost('off.example', 2, { enabled: false }), vhost('on.example', 3)],
        enabled: false,
        includes: [],
      },
    ],
    [
      'block comments hide hosts and keep line numbers right',
      lines(
        '--[[',
        'VirtualHost "hidden.example"',
        ']]',
        '--[==[ a level-2 comment: ]] does not end it',
        'Component "hidden.muc.example" "muc"',
        ']==] VirtualHost "after.example"',
        '--[[ one line ]] Component "inline.example"',
        '---[[ three dashes: a line comment, so the next line is live',
        'VirtualHost "live.example"',
      ),
      {
        hosts: [vhost('after.example', 6), comp('inline.example', 7), vhost('live.example', 9)],
        includes: [],
      },
    ],
    [
      'strings holding -- or keywords are only strings',
      lines(
        'motd_text = "Welcome -- VirtualHost \\"fake.example\\" is not a host"',
        "contact_info = { abuse = { 'mailto:abuse@example.org--x' } }",
        'certificates = "/srv/--certs"',
        'VirtualHost "real.example" -- a trailing comment',
        '  welcome_message = [[',
        'VirtualHost "in-long-string.example"',
        ']]',
        "  certificate = '/srv/real--example.pem'",
      ),
      {
        hosts: [vhost('real.example', 4, { certificate: '/srv/real--example.pem' })],
        certificates: '/srv/--certs',
        includes: [],
      },
    ],
    [
      'options Prosody reads elsewhere, or computed ones, are not taken',
      lines(
        'certificates = ENV_CERTS .. "/x"',
        'local certificate = "/not/an/option.crt"',
        'VirtualHost "a.example"',
        '  certificates = "/per-host/is/ignored"',
        '  certificate = "/etc/ssl/" .. "a.crt"',
        '  ssl = { certificate = "/etc/ssl/a.crt"; key = "/etc/ssl/a.key" }',
        'VirtualHost(name_from_a_variable)',
      ),
      { hosts: [vhost('a.example', 3)], includes: [] },
    ],
    [
      'table-form hosts, and VirtualHost "*" back to the global section',
      lines(
        'VirtualHost "t.example" { enabled = false; certificate = "t.crt" }',
        'certificate = "global.pem"',
        'VirtualHost "u.example"',
        'VirtualHost "*"',
        'certificates = "/late/certs"',
      ),
      {
        hosts: [vhost('t.example', 1, { enabled: false, certificate: 't.crt' }), vhost('u.example', 3)],
        certificate: 'global.pem',
        certificates: '/late/certs',
        includes: [],
      },
    ],
  ];

  test.each(cases)('%s', (_name, text, expected) => {
    expect(parseProsodyConfig(text, F)).toEqual(expected);
  });

  test('never throws on broken input', () => {
    for (const text of ['VirtualHost "unterminated', '--[[ never closed', 'Component (', '"\\', '[==[', '']) {
      expect(() => parseProsodyConfig(text, F)).not.toThrow();
    }
    expect(parseProsodyConfig('VirtualHost "a.example\nVirtualHost "b.example"', F).hosts.map((h) => h.name)).toEqual(['a.example', 'b.example']);
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

  test('follows a conf.d glob, nested relative Includes, and merges redefined hosts', async () => {
    const main = write('prosody.cfg.lua', 'certificates = "certs"\nVirtualHost "localhost"\nInclude "conf.d/*.cfg.lua"\n');
    const a = write('conf.d/a.cfg.lua', 'VirtualHost "example.org"\nComponent "conference.example.org" "muc"\ninclude "more/x.lua"\n');
    const x = write('conf.d/more/x.lua', 'VirtualHost "x.example"\n');
    const b = write('conf.d/b.cfg.lua', 'VirtualHost "localhost"\n  enabled = false\n');
    write('conf.d/.hidden.cfg.lua', 'VirtualHost "hidden.example"\n');
    write('conf.d/notes.txt', 'VirtualHost "notes.example"\n');

    const cfg = await loadProsodyConfig(main);
    expect(cfg).toEqual({
      path: main,
      hosts: [
        { name: 'localhost', kind: 'VirtualHost', enabled: false, file: main, line: 2 },
        { name: 'example.org', kind: 'VirtualHost', enabled: true, file: a, line: 1 },
        { name: 'conference.example.org', kind: 'Component', module: 'muc', enabled: true, file: a, line: 2 },
        { name: 'x.example', kind: 'VirtualHost', enabled: true, file: x, line: 1 },
      ],
      certificatesDir: path.join(dir, 'certs'),
      certificate: undefined,
      files: [main, a, x, b],
      warnings: [],
    });
    expect(enabledHosts(cfg).map((h) => h.name)).toEqual(['example.org', 'conference.example.org', 'x.example']);
    expect(effectiveCertsDir(cfg)).toBe(path.join(dir, 'certs'));
  });

  test('an include cycle is read once and reported', async () => {
    const main = write('prosody.cfg.lua', 'VirtualHost "a.example"\nInclude "b.lua"\n');
    const b = write('b.lua', 'VirtualHost "b.example"\nInclude "prosody.cfg.lua"\n');
    const cfg = await loadProsodyConfig(main);
    expect(cfg.files).toEqual([main, b]);
    expect(cfg.hosts.map((h) => h.name)).toEqual(['a.example', 'b.example']);
    expect(cfg.warnings).toEqual([`${b}: Include of ${main} is an include cycle; skipped it`]);
  });

  test('an unreadable Included file or directory is a warning, not an error', async () => {
    const main = write('prosody.cfg.lua', 'VirtualHost "a.example"\nInclude "missing.lua"\nInclude "nodir/*.lua"\n');
    const cfg = await loadProsodyConfig(main);
    expect(cfg.hosts.map((h) => h.name)).toEqual(['a.example']);
    expect(cfg.warnings).toHaveLength(2);
    expect(cfg.warnings[0]).toMatch(`cannot read included ${path.join(dir, 'missing.lua')}: ENOENT`);
    expect(cfg.warnings[1]).toMatch(`cannot list ${path.join(dir, 'nodir')} for Include "nodir/*.lua": ENOENT`);
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

  test('a missing main file throws a DiscoveryError naming it', async () => {
    const missing = path.join(dir, 'nope.cfg.lua');
    const err = await loadProsodyConfig(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiscoveryError);
    expect((err as DiscoveryError).file).toBe(missing);
    expect((err as DiscoveryError).message).toContain(`cannot read the Prosody config ${missing}: ENOENT`);
    expect((err as DiscoveryError).message).toContain('set prosody.config');
    expect((err as DiscoveryError).cause).toMatchObject({ code: 'ENOENT' });
  });
});

describe('Prosody 0.12 certificate lookup', () => {
  const C = '/etc/prosody/certs';
  const facts = (files: string[], certNames: Record<string, string[]> = {}, extra: Partial<LookupFacts> = {}): LookupFacts => ({
    certsDir: C,
    isFile: (p) => files.includes(p),
    certNames: new Map(Object.entries(certNames)),
    ...extra,
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
    expect(findHostCert('Example.ORG', facts([...files]))).toEqual({
      host: 'example.org',
      cert,
      key,
      keyFound: true,
      via,
      matchedName: 'example.org',
    });
  });

  test('a Component falls back to its parent domain', () => {
    const f = facts([`${C}/example.org/fullchain.pem`, `${C}/example.org/privkey.pem`]);
    expect(findHostCert('conference.example.org', f)).toEqual({
      host: 'conference.example.org',
      cert: `${C}/example.org/fullchain.pem`,
      key: `${C}/example.org/privkey.pem`,
      keyFound: true,
      via: 'fullchain',
      matchedName: 'example.org',
    });
  });

  test('index by wildcard: asked before the file names of the same host', () => {
    const f = facts([`${C}/wild.crt`, `${C}/wild.key`, `${C}/conference.example.org.crt`, `${C}/conference.example.org.key`], {
      [`${C}/wild.crt`]: ['*.example.org'],
    });
    expect(findHostCert('conference.example.org', f)).toEqual({
      host: 'conference.example.org',
      cert: `${C}/wild.crt`,
      key: `${C}/wild.key`,
      keyFound: true,
      via: 'index',
      matchedName: 'conference.example.org',
    });
    // `*.example.org` does not cover example.org itself (its wildcard form is `*.org`).
    expect(findHostCert('example.org', f)).toBeUndefined();
  });

  test('index by SAN: a fullchain.pem in a subdirectory, key by fullchain -> privkey', () => {
    const cert = `${C}/live/example.org/fullchain.pem`;
    const f = facts([cert, `${C}/live/example.org/privkey.pem`], { [cert]: ['example.org', 'conference.example.org'] });
    expect(findHostCert('conference.example.org', f)).toEqual({
      host: 'conference.example.org',
      cert,
      key: `${C}/live/example.org/privkey.pem`,
      keyFound: true,
      via: 'index',
      matchedName: 'conference.example.org',
    });
  });

  test('index: the exact name wins over a wildcard listed first', () => {
    const f = facts([`${C}/w.crt`, `${C}/w.key`, `${C}/e.crt`, `${C}/e.key`], {
      [`${C}/w.crt`]: ['*.example.org'],
      [`${C}/e.crt`]: ['muc.example.org'],
    });
    expect(findHostCert('muc.example.org', f)?.cert).toBe(`${C}/e.crt`);
  });

  test('index: files Prosody would not index (no key beside it, not .crt/fullchain) are passed over', () => {
    const f = facts([`${C}/nokey.crt`, `${C}/bundle.pem`, `${C}/example.org.pem`], {
      [`${C}/nokey.crt`]: ['example.org'],
      [`${C}/bundle.pem`]: ['example.org'],
    });
    expect(findHostCert('example.org', f)).toMatchObject({ cert: `${C}/example.org.pem`, via: 'pem' });
  });

  test('a certificate without its key is skipped and the search goes on', () => {
    const f = facts([`${C}/example.org.crt`, `${C}/example.org/fullchain.pem`, `${C}/example.org.pem`]);
    expect(findHostCert('example.org', f)).toMatchObject({ cert: `${C}/example.org.pem`, via: 'pem', keyFound: true });
    expect(findHostCert('a.example.net', facts([`${C}/a.example.net.crt`, `${C}/example.net/fullchain.pem`]))).toBeUndefined();
  });

  test('nothing found', () => {
    expect(findHostCert('example.org', facts([]))).toBeUndefined();
  });

  test('the certificate option: a file first, or a directory used instead of certsDir', () => {
    const file = facts(
      ['/etc/ssl/x/mine.crt', '/etc/ssl/x/mine.key', `${C}/a.example.crt`, `${C}/a.example.key`],
      {},
      {
        certificateFor: (n) => (n === 'a.example' ? '/etc/ssl/x/mine.crt' : undefined),
      },
    );
    expect(findHostCert('a.example', file)).toEqual({
      host: 'a.example',
      cert: '/etc/ssl/x/mine.crt',
      key: '/etc/ssl/x/mine.key',
      keyFound: true,
      via: 'crt',
      matchedName: 'a.example',
    });
    const dir = facts(
      ['/srv/tls/a.example/fullchain.pem', '/srv/tls/a.example/privkey.pem', `${C}/a.example.pem`],
      {},
      {
        certificateFor: () => '/srv/tls',
      },
    );
    expect(findHostCert('a.example', dir)).toMatchObject({ cert: '/srv/tls/a.example/fullchain.pem', via: 'fullchain' });
  });
});

describe('loadProsodyConfig merges a host defined twice as Prosody does', () => {
  test('a later section that does not set enabled keeps the earlier enabled = false', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'discovery-merge-'));
    const main = path.join(dir, 'prosody.cfg.lua');
    fs.writeFileSync(main, 'VirtualHost "a.example"\n  enabled = false\nInclude "extra.cfg.lua"\n');
    fs.writeFileSync(path.join(dir, 'extra.cfg.lua'), 'VirtualHost "a.example"\n  certificate = "a.crt"\n');
    const cfg = await loadProsodyConfig(main);
    expect(cfg.hosts).toEqual([{ name: 'a.example', kind: 'VirtualHost', enabled: false, file: main, line: 1, certificate: path.join(dir, 'a.crt') }]);
    expect(enabledHosts(cfg)).toEqual([]);
  });
});
