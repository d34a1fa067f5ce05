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
 * the parse floor, RSS <= 150 MB.
 * Then VirtualHosts (issue 12): a prosody.cfg.lua with N VirtualHosts, each with its own lineage in
 * the `certificates` directory, so discovery and Prosody's lookup (index, per-service contexts,
 * keys) run for every host: the cold scan at 10,000 and 100,000 hosts (target: 100,000 <= 12x
 * 10,000, i.e. linear), and /healthz latency (sequential GETs, p99) while the cold 10,000-host scan
 * runs (target <= 100 ms: the scan must not hold the event loop).
 * Prints tables; writes nothing outside a temp directory.
 * Usage: node bench/scan.js [counts...] [--hosts counts...]   (default: 1000 10000 --hosts 10000 100000)
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { Gauge, Registry } = require('prom-client');
const { get, keepAlive, machine, mintTree, rssMb, spawnExporter, startExporter, stats } = require('./lib/common');

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

/**
 * N VirtualHosts in a prosody.cfg.lua, each with its own lineage: the cold scan as the exporter
 * reports it, and /healthz latencies sampled back to back until /readyz says the scan is done.
 */
async function runHosts(count) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bench-hosts-'));
  const dir = path.join(root, 'certs');
  fs.mkdirSync(dir);
  const mintStart = Date.now();
  const domains = await mintTree(dir, count);
  const mintSeconds = (Date.now() - mintStart) / 1000;
  // run_as_root: Prosody's user is root here, as in the test labs (the bench's temp directory is 0700).
  fs.writeFileSync(path.join(root, 'prosody.cfg.lua'), `run_as_root = true\ncertificates = "certs"\n${domains.map((d) => `VirtualHost "${d}"\n`).join('')}`);
  const configFile = path.join(root, 'config.yml');
  fs.writeFileSync(
    configFile,
    `prosody:\n  config: ${path.join(root, 'prosody.cfg.lua')}\nprobes:\n  enabled: false\nserver:\n  listen: 127.0.0.1:0\nscan:\n  interval: 1h\n  timeout: 1h\nlogging:\n  level: info\n`,
  );
  const started = process.hrtime.bigint();
  const { proc, url } = await spawnExporter(configFile);
  const healthz = [];
  for (let i = 0; ; i++) {
    const t = process.hrtime.bigint();
    await get(`${url}/healthz`);
    healthz.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (i % 10 === 9 && (await get(`${url}/readyz`)).status === 200) break;
  }
  const readyMs = Number(process.hrtime.bigint() - started) / 1e6;
  const status = JSON.parse((await get(`${url}/status`)).text);
  const scanMs = Number(/^xmpp_cert_scan_duration_seconds (\S+)/m.exec((await get(`${url}/metrics`)).text)[1]) * 1000;
  const rss = rssMb(proc.pid);
  proc.kill('SIGTERM');
  fs.rmSync(root, { recursive: true, force: true });
  const ok = status.domains.filter((d) => d.status !== 'missing' && d.status !== 'error' && d.file).length;
  return { count, mintSeconds, scanMs, readyMs, healthz: { ...stats(healthz), n: healthz.length, max: Math.max(...healthz) }, found: ok, rssMb: rss };
}

function printHosts(rows) {
  const f = (n, d = 1) => n.toFixed(d);
  const base = rows.find((r) => r.count === 10000) ?? rows[0];
  const lines = [
    `VirtualHosts in prosody.cfg.lua, one lineage each (Prosody's lookup per host and service, keys checked)`,
    `| hosts | cold scan (ms, xmpp_cert_scan_duration_seconds) | vs. 10,000 hosts | target | start to /readyz (ms: scan + judgement) | vs. 10,000 | /healthz during the cold scan: p50 / p99 / max (ms), requests | target | hosts with their file found | RSS after (MB) | minted in (s) |`,
    `|---|---|---|---|---|---|---|---|---|---|---|`,
    ...rows.map(
      (r) =>
        `| ${r.count} | ${f(r.scanMs)} | ${f(r.scanMs / base.scanMs, 2)}x | ${r.count === 100000 ? '<= 12x' : ''} | ${f(r.readyMs)} | ${f(r.readyMs / base.readyMs, 2)}x | ${f(r.healthz.p50)} / ${f(r.healthz.p99)} / ${f(r.healthz.max)}, ${r.healthz.n} | ${r.count === 10000 ? 'p99 <= 100 ms' : ''} | ${r.found}/${r.count} | ${f(r.rssMb)} | ${f(r.mintSeconds)} |`,
    ),
  ];
  console.log(lines.join('\n') + '\n');
}

(async () => {
  if (process.argv[2] === '--parse-floor') return console.log(JSON.stringify(parseFloor(process.argv[3])));
  if (process.argv[2] === '--expo-floor') return console.log(JSON.stringify(await expositionFloor(process.argv[3])));
  const args = process.argv.slice(2);
  const split = args.indexOf('--hosts');
  const counts = (split < 0 ? args : args.slice(0, split)).map(Number).filter(Boolean);
  const hosts =
    split < 0
      ? []
      : args
          .slice(split + 1)
          .map(Number)
          .filter(Boolean);
  console.log(`bench:scan on ${machine()}\n`);
  if (args.length === 0 || counts.length > 0) for (const count of counts.length ? counts : [1000, 10000]) printRow(await run(count));
  const hostRows = [];
  for (const count of hosts.length ? hosts : args.length === 0 ? [10000, 100000] : []) hostRows.push(await runHosts(count));
  if (hostRows.length) printHosts(hostRows);
  keepAlive.destroy();
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
