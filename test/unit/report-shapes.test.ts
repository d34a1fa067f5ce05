/**
 * The objects a scan keeps per domain, service and file share V8 hidden classes: built as
 * literals that start with a spread (`{ ...base, more }`), V8 11 (Node 20) gives each its own
 * (~240 bytes each, ~20 MB of heap at 10,000 domains; evaluate/report.ts, docs/benchmarks.md).
 * Asked of V8 itself (%HaveSameMap); the control shows the question can fail.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { loadConfig } from '../../src/config';
import { evaluate } from '../../src/evaluate';
import { InventoryScanner } from '../../src/sources/inventory';
import { DAY, mint } from '../helpers/certs';

v8.setFlagsFromString('--allow-natives-syntax');
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- V8's natives syntax (%HaveSameMap) exists only in source compiled after the flag is set
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: unknown, b: unknown) => boolean;

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-shapes-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

// V8 makes the first few objects of a site alike either way (its inline cache is cold), and an
// object made before a field's type was widened keeps the old class until touched: so count the
// classes among many, allowing two.
const COUNT = 30;

/** How many hidden classes the objects have between them. */
function classes(objects: readonly unknown[]): number {
  const seen: unknown[] = [];
  for (const o of objects) if (!seen.some((s) => sameMap(s, o))) seen.push(o);
  return seen.length;
}

test('domain, service, file and inventory entries of like domains share their hidden class', async () => {
  const names = Array.from({ length: COUNT }, (_, i) => `d${i}.example`);
  const cert = await mint({ names, notAfter: 40 * DAY });
  for (const name of names) {
    fs.mkdirSync(path.join(root, 'certs', name), { recursive: true });
    fs.writeFileSync(path.join(root, 'certs', name, 'fullchain.pem'), cert.pem);
    fs.writeFileSync(path.join(root, 'certs', name, 'privkey.pem'), cert.keyPem);
  }
  fs.writeFileSync(path.join(root, 'c.yml'), `prosody:\n  config: null\n  certs: certs\ndomains: [${names.join(', ')}]\nprobes:\n  enabled: false\n`);
  const { config } = loadConfig({ file: path.join(root, 'c.yml'), env: {} });
  const inventory = await new InventoryScanner(config).scan();
  const report = evaluate(inventory, config.thresholds, inventory.scannedAt);

  expect(report.domains.map((d) => d.status)).toEqual(names.map(() => 'ok'));
  expect(classes(report.domains)).toBeLessThanOrEqual(2);
  expect(classes(report.domains.map((d) => d.services[0]))).toBeLessThanOrEqual(2);
  expect(classes(report.files)).toBeLessThanOrEqual(2);
  expect(classes(inventory.domains)).toBeLessThanOrEqual(2);

  // The control: objects made by a site that starts with a spread get a class each, once V8's cache is warm.
  expect(classes(report.domains.map((d) => ({ ...d, more: 1 })))).toBeGreaterThan(COUNT / 2);
});
