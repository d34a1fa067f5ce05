/**
 * The layer rules of docs/architecture.md are executable: dependency-cruiser with
 * .dependency-cruiser.cjs passes on the tree, and fails, naming the rule, on each kind of planted
 * violation (an upward import, a sideways one, a cycle, evaluate reading sources, I/O in the pure
 * core, cert importing config). The plants go into a copy of src/, never into the tree.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const DEPCRUISE = path.join(ROOT, 'node_modules/.bin/depcruise');

function cruise(cwd: string): { status: number | null; output: string } {
  const run = spawnSync(DEPCRUISE, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd, encoding: 'utf8' });
  return { status: run.status, output: run.stdout + run.stderr };
}

let copy: string;

beforeAll(() => {
  copy = fs.mkdtempSync(path.join(os.tmpdir(), 'xmpp-cert-arch-'));
  fs.cpSync(path.join(ROOT, 'src'), path.join(copy, 'src'), { recursive: true });
  for (const file of ['.dependency-cruiser.cjs', 'tsconfig.json', 'tsconfig.build.json', 'package.json'])
    fs.copyFileSync(path.join(ROOT, file), path.join(copy, file));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
});

afterAll(() => fs.rmSync(copy, { recursive: true, force: true }));

test('the tree follows the layer rules', () => {
  const { status, output } = cruise(ROOT);
  expect(output).toMatch(/no dependency violations found/);
  expect(status).toBe(0);
});

const plants: Array<[rule: string, file: string, line: string]> = [
  ['layer-metrics', 'src/metrics/renewal-gauges.ts', "import type { RenewOutcome } from '../renewal/renew';\nexport type Planted = RenewOutcome;"],
  ['layer-notify', 'src/notify/format.ts', "import { Renewer } from '../renewal/renew';\nexport const planted = Renewer;"],
  ['layer-sources', 'src/sources/srv.ts', "import { evaluate } from '../evaluate';\nexport const planted = evaluate;"],
  ['layer-state', 'src/state/backoff.ts', "import type { Config } from '../config';\nexport type Planted = Config;"],
  ['layer-cert', 'src/cert/names.ts', "import type { Config } from '../config';\nexport type Planted = Config;"],
  ['layer-renewal', 'src/renewal/groups.ts', "import { Worker } from '../processes/worker';\nexport const planted = Worker;"],
  ['layer-processes', 'src/processes/exporter.ts', "import { registerSetup } from '../commands/setup';\nexport const planted = registerSetup;"],
  ['evaluate-reads-the-model', 'src/evaluate/status.ts', "import type { SrvError } from '../sources/srv';\nexport type Planted = SrvError;"],
  ['pure-core', 'src/evaluate/status.ts', "import fs from 'node:fs';\nexport const planted = fs;"],
  ['no-circular', 'src/evaluate/thresholds.ts', "import { evaluate } from './report';\nexport const planted = evaluate;"],
];

test.each(plants)('a planted import breaks %s', (rule, file, line) => {
  const target = path.join(copy, file);
  const original = fs.readFileSync(target, 'utf8');
  fs.writeFileSync(target, `${original}\n${line}\n`);
  try {
    const { status, output } = cruise(copy);
    expect(output).toContain(`error ${rule}:`);
    expect(status).not.toBe(0);
  } finally {
    fs.writeFileSync(target, original);
  }
});
