/**
 * What `npm pack` would publish (npm's own file list, --dry-run): a LICENSE matching package.json's
 * license, no source map pointing at a file the package does not hold, and every file the built
 * CLI reads at run time (setup's units and logrotate file, the dashboard, build-info.json).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { license: string; files: string[] };

let files: string[];
beforeAll(() => {
  const run = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(run.status).toBe(0);
  files = (JSON.parse(run.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
}, 60_000);

test('LICENSE is shipped and is the license package.json names', () => {
  expect(pkg.license).toBe('MIT');
  expect(files).toContain('LICENSE');
  const text = fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
  expect(text.split('\n')[0]).toBe('MIT License');
  expect(text).toContain('Permission is hereby granted, free of charge, to any person obtaining a copy');
});

test('every shipped source map points only at shipped files (or none is shipped)', () => {
  for (const map of files.filter((f) => f.endsWith('.map'))) {
    const { sources } = JSON.parse(fs.readFileSync(path.join(ROOT, map), 'utf8')) as { sources: string[] };
    for (const source of sources) expect(files).toContain(path.normalize(path.join(path.dirname(map), source)));
  }
  // The build makes none: dist holds JavaScript and the build facts only.
  expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
});

test('the files the CLI reads at run time are in the package', () => {
  for (const file of [
    'dist/cli.js',
    'dist/build-info.json',
    'deploy/logrotate/xmpp-cert',
    'deploy/systemd/xmpp-cert-exporter.service',
    'deploy/systemd/xmpp-cert-worker.service',
    'grafana/dashboards/xmpp-certificates.json',
  ]) {
    expect(files).toContain(file);
  }
});
