/**
 * Planning a takeover (renewal/takeover.ts) on labs of real files and prosody.cfg.lua text, read by
 * the exporter's own scanner: which files move, which config line or host stands in the way. The
 * integration tests (renewal-takeover*.test.ts) prove the common layouts on a real Prosody; these
 * cover the rest of the class without one: a table that sets only the key, a computed path, a
 * direct-TLS table, a file not valid yet, a parent's file and the direct-TLS port's catch-all that
 * do not cover a name outside the group, a wildcard that does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema } from '../../src/config';
import { identitiesOf } from '../../src/discovery';
import { ProsodyView } from '../../src/renewal/prosody-view';
import { tryPlanTakeover, type TakeoverPlan } from '../../src/renewal/takeover';
import { RenewalError } from '../../src/shared/errors';
import { InventoryScanner } from '../../src/sources/inventory';
import { DAY, makeCA, mint, type TestCA } from '../helpers/certs';

let ca: TestCA;
beforeAll(async () => {
  ca = await makeCA('Lab CA');
});

interface Lab {
  dir: string;
  certs: string;
  config: string;
}

/** A prosody.cfg.lua (`lua` after the defaults) and certificate files (relative to certs/ -> names, or null for a key). */
async function lab(lua: string[], files: Record<string, { names: string[]; notBefore?: number } | 'key'>): Promise<Lab> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-takeover-'));
  const certs = path.join(dir, 'certs');
  fs.mkdirSync(certs);
  for (const [rel, spec] of Object.entries(files)) {
    const file = path.join(certs, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (spec === 'key') {
      fs.writeFileSync(file, (await mint({ names: ['k'], notAfter: DAY })).keyPem);
      continue;
    }
    const c = await mint({ names: spec.names, notAfter: 60 * DAY, ...(spec.notBefore ? { notBefore: spec.notBefore } : {}), issuer: ca });
    fs.writeFileSync(file, c.pem + ca.pem);
  }
  const config = path.join(dir, 'prosody.cfg.lua');
  fs.writeFileSync(config, ['certificates = "certs"', 'c2s_direct_tls_ports = { 5223 }', ...lua].join('\n') + '\n');
  return { dir, certs, config };
}

async function plan(l: Lab, name: string, domains = [name]): Promise<TakeoverPlan | RenewalError> {
  const scanner = new InventoryScanner(configSchema.parse({ prosody: { config: l.config } }));
  const inventory = await scanner.scan();
  const view = new ProsodyView(inventory, scanner.lookupFacts!);
  const identities = identitiesOf({ dnsNames: domains, commonName: domains[0], xmppAddrs: [], srvNames: [] });
  return tryPlanTakeover(view, { name, domains }, identities, 'Nothing was ordered');
}

const lineOf = (l: Lab, text: string) =>
  fs
    .readFileSync(l.config, 'utf8')
    .split('\n')
    .findIndex((x) => x.includes(text)) + 1;

test('a table that sets only the key: refused, naming the table and its line', async () => {
  const l = await lab(['VirtualHost "a.test"', '  c2s_ssl = { key = "certs/other.key" }'], {
    'a.test.crt': { names: ['a.test'] },
    'a.test.key': 'key',
    'other.key': 'key',
  });
  const result = await plan(l, 'a.test');
  expect(result).toBeInstanceOf(RenewalError);
  expect((result as RenewalError).reason).toBe('config');
  expect((result as RenewalError).message).toBe(
    `a.test: Prosody takes the key for a.test (c2s) from c2s_ssl of a.test at ${l.config}:${lineOf(l, 'other.key')} (${path.join(l.certs, 'other.key')}), ` +
      `which would not belong to the worker's new certificate. Change it to key = "${path.join(l.certs, 'a.test', 'privkey.pem')}" or remove it, then reload Prosody and renew again. Nothing was ordered`,
  );
});

test('a path computed at run time: refused, naming the line, not guessed', async () => {
  const l = await lab(['VirtualHost "a.test"', '  ssl = { certificate = CERTS .. "/a.crt" }'], {});
  expect(((await plan(l, 'a.test')) as RenewalError).message).toMatch(
    /^a\.test: for a\.test \(c2s\), the certificate or key in ssl of a\.test is computed at run time \(config line 4\); cannot tell which file Prosody uses, so neither can the worker tell that it would use .*a\.test\/fullchain\.pem\. Write certificate = /,
  );
});

test("a direct-TLS table for the group's names is refused too; one naming the worker's own pair is where it installs", async () => {
  const other = await lab(['c2s_direct_tls_ssl = { certificate = "/etc/ssl/x.crt"; key = "/etc/ssl/x.key" }', 'VirtualHost "a.test"'], {});
  expect(((await plan(other, 'a.test')) as RenewalError).message).toMatch(
    /for a\.test \(c2s_direct_tls\) from c2s_direct_tls_ssl \(global\) at .*:3 \(\/etc\/ssl\/x\.crt\)/,
  );
  const ours = await lab(['VirtualHost "a.test"', '  ssl = { certificate = "certs/a.test/fullchain.pem"; key = "certs/a.test/privkey.pem" }'], {});
  expect(await plan(ours, 'a.test')).toEqual({ entries: [], leftAlone: [] });
});

test("every file the index takes now or once valid, with its key; a certbot lineage whole; never the worker's own tree", async () => {
  const l = await lab(['VirtualHost "a.test"', 'Component "muc.a.test" "muc"'], {
    'a.test.crt': { names: ['a.test'] },
    'a.test.key': 'key',
    'later.crt': { names: ['muc.a.test'], notBefore: DAY },
    'later.key': 'key',
    'live/a.test/fullchain.pem': { names: ['a.test', 'muc.a.test'] },
    'live/a.test/privkey.pem': 'key',
    'archive/a.test/fullchain1.pem': { names: ['a.test'] },
    'archive/a.test/privkey1.pem': 'key',
    'a.test/fullchain.pem': { names: ['a.test'] },
    'a.test/privkey.pem': 'key',
    '.hidden/x.crt': { names: ['a.test'] },
    '.hidden/x.key': 'key',
  });
  expect(await plan(l, 'a.test', ['a.test', 'muc.a.test'])).toEqual({
    entries: ['a.test.crt', 'a.test.key', 'archive/a.test', 'later.crt', 'later.key', 'live/a.test'],
    leftAlone: [],
  });
});

test("a name outside the group: a file that covers it is not moved (refused); a parent's file or the port's catch-all that does not is", async () => {
  const covering = await lab(['VirtualHost "a.test"', 'VirtualHost "chat.a.test"'], { 'a.test.crt': { names: ['a.test', '*.a.test'] }, 'a.test.key': 'key' });
  expect(((await plan(covering, 'a.test')) as RenewalError).message).toBe(
    "a.test: a.test.crt also serves chat.a.test (c2s), which is not in this group: moving it into the archive would change chat.a.test's certificate. " +
      'Add chat.a.test to this group (renewal.certificates) or give it a certificate of its own first, then renew again. Nothing was ordered',
  );
  // sub.a.test falls back to its parent's file (find_host_cert), which does not cover it; lone.test gets whatever the direct-TLS port offers.
  const notCovering = await lab(['VirtualHost "a.test"', 'VirtualHost "sub.a.test"', 'VirtualHost "lone.test"'], {
    'a.test.crt': { names: ['a.test'] },
    'a.test.key': 'key',
  });
  expect(await plan(notCovering, 'a.test')).toEqual({ entries: ['a.test.crt', 'a.test.key'], leftAlone: [] });
});

test('a certificate option pointing outside the certificate directory: left alone, Prosody no longer uses it', async () => {
  const l = await lab(['VirtualHost "a.test"', '  certificate = "/etc/ssl/xmpp/a.test.crt"'], {});
  fs.mkdirSync(path.join(l.dir, 'etc'), { recursive: true });
  const outside = path.join(l.dir, 'etc', 'a.test.crt');
  fs.writeFileSync(outside, (await mint({ names: ['a.test'], notAfter: DAY, issuer: ca })).pem);
  fs.writeFileSync(path.join(l.dir, 'etc', 'a.test.key'), 'key');
  fs.writeFileSync(l.config, fs.readFileSync(l.config, 'utf8').replace('/etc/ssl/xmpp/a.test.crt', outside));
  expect(await plan(l, 'a.test')).toEqual({ entries: [], leftAlone: [outside, path.join(l.dir, 'etc', 'a.test.key')] });
});
