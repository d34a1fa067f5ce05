#!/usr/bin/env node
/**
 * npm run bench:scan — scan and scrape figures at 1,000 and 10,000 certificate files, beside the
 * floors measured in the same run:
 *   - cold full scan (stat, read, parse, discover, evaluate) vs. reading + parsing the same files
 *     with node's crypto.X509Certificate alone (the parse floor);
 *   - warm /metrics latency p50/p99 over 200 sequential scrapes of the real HTTP app vs. prom-client
 *     exposition of the same number of series on a bare Registry (the exposition floor);
 *   - the exporter's RSS after the scrapes.
 * The exporter runs as a real `node dist/cli.js serve` process; each floor runs in a fresh node
 * process of its own, so no measurement carries another's heap or JIT state.
 * Each file is a Prosody-layout fullchain.pem (leaf + intermediate), one watched domain per file.
 * Targets at 10,000 files: warm p50 <= 100 ms and <= 1.2x the exposition floor, cold scan <= 1.5x
 * the parse floor, RSS <= 150 MB. Prints a table; writes nothing outside a temp directory.
 * Usage: node bench/scan.js [counts...]   (default: 1000 10000)
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { Gauge, Registry } = require('prom-client');
const { get, keepAlive, machine, mintTree, rssMb, startExporter, stats } = require('./lib/common');

const SCRAPES = 200;

/** Floor (in a fresh process): read every file, parse each PEM block with X509Certificate, nothing else. */
function parseFloor(dir) {
  const started = process.hrtime.bigint();
  let certs = 0;
  for (const name of fs.readdirSync(dir)) {
    const text = fs.readFileSync(path.join(dir, name, 'fullchain.pem'), 'latin1');
    for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) {
      if (new crypto.X509Certificate(m[0]).validTo) certs++;
    }
  }
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, certs };
}

/** Floor (in a fresh process): a bare prom-client Registry with the same series, one gauge per family. */
async function expositionFloor(familiesFile) {
  const families = JSON.parse(fs.readFileSync(familiesFile, 'utf8'));
  const registry = new Registry();
  for (const [name, samples] of families) {
    const gauge = new Gauge({ name: `floor_${name}`, help: 'floor', labelNames: samples.length ? Object.keys(samples[0]) : [], registers: [registry] });
    for (const labels of samples) gauge.set(labels, 1);
  }
  const times = [];
  for (let i = 0; i < SCRAPES; i++) {
    const t = process.hrtime.bigint();
    await registry.metrics();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { ...stats(times), rssMb: process.memoryUsage().rss / 2 ** 20 };
}

/** The label sets our /metrics carries, per family, to rebuild the same series count. */
function familiesOf(text) {
  const families = new Map();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? /.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (!families.has(m[1])) families.set(m[1], []);
    families.get(m[1]).push(labels);
  }
  return [...families];
}

/** Runs this script in a fresh node process with a mode flag; returns its JSON answer. */
function child(args) {
  return JSON.parse(execFileSync(process.execPath, [__filename, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 }));
}

async function run(count) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bench-scan-'));
  const dir = path.join(root, 'certs');
  fs.mkdirSync(dir);
  const mintStart = Date.now();
  const domains = await mintTree(dir, count);
  const mintSeconds = (Date.now() - mintStart) / 1000;
  const configFile = path.join(root, 'config.yml');
  fs.writeFileSync(
    configFile,
    `prosody:\n  config: null\n  certs: ${dir}\ndomains:\n${domains.map((d) => `  - ${d}`).join('\n')}\nserver:\n  listen: 127.0.0.1:0\nscan:\n  interval: 1h\nlogging:\n  level: info\n`,
  );

  const floor = child(['--parse-floor', dir]);
  const { proc, url } = await startExporter(configFile);
  const first = (await get(`${url}/metrics`)).text;
  const scanMs = Number(/^xmpp_cert_scan_duration_seconds (\S+)/m.exec(first)[1]) * 1000;
  const times = [];
  for (let i = 0; i < SCRAPES; i++) {
    const t = process.hrtime.bigint();
    await get(`${url}/metrics`);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const rss = rssMb(proc.pid);
  proc.kill('SIGTERM');
  const familiesFile = path.join(root, 'families.json');
  const families = familiesOf(first);
  fs.writeFileSync(familiesFile, JSON.stringify(families));
  const expo = child(['--expo-floor', familiesFile]);
  const series = families.reduce((n, [, s]) => n + s.length, 0);
  fs.rmSync(root, { recursive: true, force: true });
  return { count, mintSeconds, domains: domains.length, certs: floor.certs, series, scanMs, parseFloorMs: floor.ms, warm: stats(times), expo, rssMb: rss };
}

function printRow(r) {
  const f = (n, d = 1) => n.toFixed(d);
  const lines = [
    `files: ${r.count}  (${r.certs} certificates, ${r.domains} domains, ${r.series} xmpp_cert_ series; minted in ${f(r.mintSeconds)} s)`,
    `| figure | ours | floor | ratio | target |`,
    `|---|---|---|---|---|`,
    `| cold full scan (ms) | ${f(r.scanMs)} | ${f(r.parseFloorMs)} (read + X509Certificate) | ${f(r.scanMs / r.parseFloorMs, 2)}x | <= 1.5x |`,
    `| warm /metrics p50 (ms, over HTTP) | ${f(r.warm.p50)} | ${f(r.expo.p50)} (prom-client exposition, in process) | ${f(r.warm.p50 / r.expo.p50, 2)}x | <= 100 ms and <= 1.2x |`,
    `| warm /metrics p99 (ms) | ${f(r.warm.p99)} | ${f(r.expo.p99)} | ${f(r.warm.p99 / r.expo.p99, 2)}x | |`,
    `| exporter RSS after scrapes (MB) | ${f(r.rssMb)} | ${f(r.expo.rssMb)} (prom-client registry holding the same series) | ${f(r.rssMb / r.expo.rssMb, 2)}x | <= 150 MB |`,
  ];
  console.log(lines.join('\n') + '\n');
}

(async () => {
  if (process.argv[2] === '--parse-floor') return console.log(JSON.stringify(parseFloor(process.argv[3])));
  if (process.argv[2] === '--expo-floor') return console.log(JSON.stringify(await expositionFloor(process.argv[3])));
  const counts = process.argv.slice(2).map(Number).filter(Boolean);
  console.log(`bench:scan on ${machine()}\n`);
  for (const count of counts.length ? counts : [1000, 10000]) printRow(await run(count));
  keepAlive.destroy();
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
