#!/usr/bin/env node
/**
 * npm run bench — runs every bench script in turn (each in its own node process, one at a time so
 * none measures another's load) and writes docs/benchmarks.md: the machine, then each script's
 * own tables (ours, the peer's or floor's value from the same run, the ratio, the target).
 * Each script also prints its tables when run alone (npm run bench:<name>).
 * Usage: node bench/all.js [name...]   (default: every script below; with names, only their
 * sections of docs/benchmarks.md are replaced and the others kept)
 */
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { machine } = require('./lib/common');

const SCRIPTS = {
  scan: 'scan and scrape at 1,000 and 10,000 files vs. the parse and exposition floors; 10,000 and 100,000 VirtualHosts, /healthz during a cold scan',
  probe: '1,000 direct-TLS endpoints: our /probe vs. prometheus-blackbox-exporter (TLS only, and verifying like ours)',
  sslcheck: "1,000 files: `xmpp-cert monitor` vs. Debian's ssl-cert-check",
  load: '50 concurrent scrapers on 10,000 files for 60 s, without and with basic auth; one authorised scraper beside 50 connections of wrong passwords',
  renew: '100 certificates from Pebble: the worker vs. a bare acme-client loop',
  soak: '~500 renewals of 50 groups against Pebble and Prosody',
};

const chosen = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(SCRIPTS);
const docFile = path.join(__dirname, '../docs/benchmarks.md');
const sections = new Map(previousSections());

/** The sections of the current docs/benchmarks.md by script name, to keep those not re-run. */
function previousSections() {
  if (!fs.existsSync(docFile)) return [];
  const parts = fs
    .readFileSync(docFile, 'utf8')
    .split(/^(?=## )/m)
    .slice(1);
  return parts.map((part) => [/^## (\w+):/.exec(part)?.[1], part.trimEnd() + '\n']).filter(([name]) => name in SCRIPTS);
}

for (const name of chosen) {
  process.stderr.write(`bench:${name} ...\n`);
  const started = Date.now();
  const run = spawnSync(process.execPath, [path.join(__dirname, `${name}.js`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  process.stdout.write(run.stdout);
  const body = run.status === 0 ? run.stdout.trim() : `FAILED (exit ${run.status}):\n\n${run.stdout.trim()}`;
  sections.set(name, `## ${name}: ${SCRIPTS[name]}\n\n\`npm run bench:${name}\`, ${minutes} min, ${new Date().toISOString().slice(0, 10)}.\n\n${body}\n`);
}
const doc = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${machine()}, ${process.platform} ${process.arch}.`,
  'Each table gives our figure, the peer or floor measured in the same run, the ratio and the target.',
  'Re-run on your own machine to compare; the scripts and what they measure are described in their headers (bench/).',
  '',
  ...Object.keys(SCRIPTS)
    .filter((name) => sections.has(name))
    .map((name) => sections.get(name)),
].join('\n');
fs.writeFileSync(docFile, doc);
process.stderr.write('wrote docs/benchmarks.md\n');
