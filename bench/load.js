#!/usr/bin/env node
/**
 * npm run bench:load — scrape load on 10,000 certificate files: autocannon with 50 concurrent
 * connections on GET /metrics of a real `xmpp-cert serve` process for 60 s, then the same with
 * web-config.yml basic auth on (bcrypt, the exporter-toolkit format), and as the floor a bare node
 * http server, in a process of its own like the exporter, sending the same /metrics body from
 * memory (what shipping the bytes costs here).
 * Prints requests/s, p50/p99 latency, errors (timeouts, non-2xx) and the exporter's RSS, sampled
 * every second after a 10 s warm-up. Targets: 0 errors; the median RSS of the last 10 s within
 * 10% of the median of the first 10 s.
 * Then gzip beside plain on the same exporter: 200 sequential scrapes each (one connection, as one
 * Prometheus scrapes), bytes on the wire, scrape p50/p99 to the last byte, and the exporter's CPU
 * per scrape (user + system from /proc); and the first gzip scrape after a scan, which deflates the
 * report families once. Target: gzip p50 <= 2x the plain p50.
 * And, on the basic-auth exporter, one authorised scraper alone and the same scraper while 50
 * other connections send a distinct wrong password each time (every one a bcrypt check, cost 10).
 * Targets: the scraper's p50 within 2x and p99 within 1 s of the run without the attack, 0 errors.
 * Usage: node bench/load.js [files] [seconds] [connections]   (default 10000 60 50)
 */
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');
const bcrypt = require('bcryptjs');
const { spawn } = require('node:child_process');
const { keepAlive, machine, mintTree, rssMb, startExporter, stats } = require('./lib/common');

const COUNT = Number(process.argv[2]) || 10000;
const SECONDS = Number(process.argv[3]) || 60;
const CONNECTIONS = Number(process.argv[4]) || 50;
const WARMUP = 10;

const SEQUENTIAL = 200;

/** User + system CPU seconds of a process so far (/proc/PID/stat, fields 14 and 15, in clock ticks). */
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** One scrape to the last byte; the bytes as they came over the wire (not decoded). */
function scrape(url, headers) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    http
      .get(url, { agent: keepAlive, headers }, (res) => {
        let bytes = 0;
        res.on('data', (c) => (bytes += c.length));
        res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, bytes, encoding: res.headers['content-encoding'] ?? 'identity' }));
      })
      .on('error', reject);
  });
}

/** Sequential scrapes with `headers`: p50/p99, bytes per scrape, exporter CPU per scrape. */
async function sequential(url, pid, headers) {
  const times = [];
  let bytes = 0;
  let encoding;
  const cpu = cpuSeconds(pid);
  for (let i = 0; i < SEQUENTIAL; i++) {
    const r = await scrape(url, headers);
    times.push(r.ms);
    bytes = r.bytes;
    encoding = r.encoding;
  }
  return { ...stats(times), bytes, encoding, cpuMs: ((cpuSeconds(pid) - cpu) * 1000) / SEQUENTIAL };
}

/** gzip vs plain on a fresh exporter: the first gzip scrape (deflates the report once), then each sequentially. */
async function gzipRows(config) {
  const { proc, url } = await startExporter(config);
  const first = await scrape(`${url}/metrics`, { 'accept-encoding': 'gzip' });
  const gzip = await sequential(`${url}/metrics`, proc.pid, { 'accept-encoding': 'gzip' });
  const plain = await sequential(`${url}/metrics`, proc.pid, {});
  proc.kill('SIGTERM');
  if (gzip.encoding !== 'gzip' || plain.encoding !== 'identity') throw new Error(`expected gzip and identity, got ${gzip.encoding} and ${plain.encoding}`);
  return { first, gzip, plain };
}

function cannon(url, seconds, headers = {}) {
  return autocannon({ url, connections: CONNECTIONS, duration: seconds, headers, timeout: 30 });
}

/** 50 connections, each request a new wrong password for the authorised user (no verdict cache can help). */
function attack(url, seconds) {
  let n = 0;
  const setupRequest = (req) => ({ ...req, headers: { ...req.headers, authorization: `Basic ${Buffer.from(`prometheus:wrong-${n++}`).toString('base64')}` } });
  return autocannon({ url, connections: 50, duration: seconds, timeout: 30, requests: [{ method: 'GET', setupRequest }] });
}

/** One authorised scraper for `seconds`, with or without the attack running beside it. */
async function authorisedScraper(url, headers, withAttack) {
  const attacking = withAttack ? attack(url, SECONDS) : undefined;
  const r = await autocannon({ url, connections: 1, duration: SECONDS, headers, timeout: 30 });
  const a = await attacking;
  const count = (code) => a?.statusCodeStats?.[code]?.count ?? 0;
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx,
    total: r.requests.total,
    attack: a ? `${count(401)} / ${count(429)} / ${count(503)} (${a.errors} errors)` : '',
  };
}

/**
 * Warm-up, then the measured run, RSS sampled every second: growth is the median of the last 10 s
 * against the median of the first 10 s. One sample at each end moved by +-8% with the collector
 * alone (a 240 s run of the same load sampled every 10 s: 165-181 MB, no trend).
 */
async function measure(url, pid, headers) {
  await cannon(url, WARMUP, headers);
  const samples = [];
  const sampler = setInterval(() => samples.push(rssMb(pid)), 1000);
  const r = await cannon(url, SECONDS, headers);
  clearInterval(sampler);
  const rssStart = median(samples.slice(0, 10));
  const rssEnd = median(samples.slice(-10));
  // autocannon's `errors` already counts timeouts (and `timeouts` counts them again).
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, total: r.requests.total, rssStart, rssEnd };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Child mode: serve `bodyFile` from memory on a free loopback port; print the port. */
function serveFloor(bodyFile) {
  const body = fs.readFileSync(bodyFile);
  const server = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(body));
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
}

/** The floor runs in its own process, so it does not share a core with autocannon as it would in this one. */
async function floor(bodyFile) {
  const proc = spawn(process.execPath, [__filename, '--serve-floor', bodyFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => proc.stdout.once('data', (d) => resolve(Number(d.toString().trim()))));
  const result = await measure(`http://127.0.0.1:${port}/metrics`, proc.pid);
  proc.kill('SIGTERM');
  return result;
}

async function main() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bench-load-'));
  const certs = path.join(root, 'certs');
  fs.mkdirSync(certs);
  const domains = await mintTree(certs, COUNT);
  const config = path.join(root, 'xmpp-cert.yml');
  fs.writeFileSync(
    config,
    JSON.stringify({ prosody: { config: null, certs }, domains, probes: { enabled: false }, scan: { interval: '1h' }, server: { listen: '127.0.0.1:0' } }),
  );
  const webConfig = path.join(root, 'web-config.yml');
  fs.writeFileSync(webConfig, `basic_auth_users:\n  prometheus: ${bcrypt.hashSync('bench-secret', 10)}\n`);
  const auth = { authorization: `Basic ${Buffer.from('prometheus:bench-secret').toString('base64')}` };

  const results = {};
  for (const [label, args, headers] of [
    ['no auth', [], {}],
    ['basic auth', ['--web.config.file', webConfig], auth],
  ]) {
    const { proc, url } = await startExporter(config, args, headers);
    results[label] = await measure(`${url}/metrics`, proc.pid, headers);
    if (label === 'no auth') results.body = await (await fetch(`${url}/metrics`)).text();
    if (label === 'basic auth') {
      await autocannon({ url: `${url}/metrics`, connections: 1, duration: WARMUP, headers, timeout: 30 });
      results.alone = await authorisedScraper(`${url}/metrics`, headers, false);
      results.attacked = await authorisedScraper(`${url}/metrics`, headers, true);
    }
    proc.kill('SIGTERM');
  }
  const bodyFile = path.join(root, 'metrics.txt');
  fs.writeFileSync(bodyFile, results.body);
  results.floor = await floor(bodyFile);
  const zipped = await gzipRows(config);
  keepAlive.destroy();
  fs.rmSync(root, { recursive: true, force: true });

  const f = (n, d = 1) => (n === undefined ? '' : n.toFixed(d));
  const cols = ['no auth', 'basic auth', 'floor'];
  const row = (figure, pick, target = '') => `| ${figure} | ${cols.map((c) => pick(results[c])).join(' | ')} | ${target} |`;
  console.log(
    `bench:load on ${machine()}: ${COUNT} files (${(Buffer.byteLength(results.body) / 2 ** 20).toFixed(1)} MiB per scrape), ${CONNECTIONS} connections, ${SECONDS} s after a ${WARMUP} s warm-up\n`,
  );
  console.log('| figure | ours | ours, basic auth | floor (same bytes from memory, bare node http) | target |');
  console.log('|---|---|---|---|---|');
  console.log(row('requests/s', (r) => f(r.rps)));
  console.log(row('latency p50 (ms)', (r) => f(r.p50)));
  console.log(row('latency p99 (ms)', (r) => f(r.p99)));
  console.log(row('errors (timeouts, non-2xx) / requests', (r) => `${r.errors} / ${r.total}`, '0'));
  console.log(
    row(
      'RSS, median of the first 10 s -> of the last 10 s (MB)',
      (r) => `${f(r.rssStart)} -> ${f(r.rssEnd)} (${f(((r.rssEnd - r.rssStart) / r.rssStart) * 100)}%)`,
      'within 10% (ours)',
    ),
  );
  console.log('');
  const { first, gzip, plain } = zipped;
  const mib = (n) => (n / 2 ** 20).toFixed(2);
  console.log(`gzip vs plain, same exporter, ${SEQUENTIAL} sequential scrapes each on one keep-alive connection (as one Prometheus scrapes):\n`);
  console.log('| figure | plain | gzip | gzip / plain | target |');
  console.log('|---|---|---|---|---|');
  console.log(`| bytes on the wire per scrape (MiB) | ${mib(plain.bytes)} | ${mib(gzip.bytes)} | ${f(gzip.bytes / plain.bytes, 3)}x | |`);
  console.log(`| scrape p50, to the last byte (ms) | ${f(plain.p50)} | ${f(gzip.p50)} | ${f(gzip.p50 / plain.p50, 2)}x | gzip <= 2x plain |`);
  console.log(`| scrape p99 (ms) | ${f(plain.p99)} | ${f(gzip.p99)} | ${f(gzip.p99 / plain.p99, 2)}x | |`);
  console.log(`| exporter CPU per scrape (ms, user + system) | ${f(plain.cpuMs)} | ${f(gzip.cpuMs)} | ${f(gzip.cpuMs / plain.cpuMs, 2)}x | |`);
  console.log(`| first gzip scrape after a scan (ms; deflates the report families once) | | ${f(first.ms)} | | |`);
  console.log('');

  const { alone, attacked } = results;
  console.log(`One authorised scraper on the basic-auth exporter, ${SECONDS} s each, alone and while 50 connections send distinct wrong passwords:\n`);
  console.log('| figure | authorised scraper alone | with 50 connections of wrong passwords | ratio / difference | target |');
  console.log('|---|---|---|---|---|');
  console.log(`| requests/s | ${f(alone.rps)} | ${f(attacked.rps)} | ${f(attacked.rps / alone.rps, 2)}x |  |`);
  console.log(`| latency p50 (ms) | ${f(alone.p50)} | ${f(attacked.p50)} | ${f(attacked.p50 / alone.p50, 2)}x | within 2x |`);
  console.log(`| latency p99 (ms) | ${f(alone.p99)} | ${f(attacked.p99)} | +${f(attacked.p99 - alone.p99, 0)} ms | within +1000 ms |`);
  console.log(`| errors (timeouts, non-2xx) / requests | ${alone.errors} / ${alone.total} | ${attacked.errors} / ${attacked.total} |  | 0 |`);
  console.log(`| attack answered 401 / 429 / 503 |  | ${attacked.attack} |  |  |`);
  console.log('');
}

(process.argv[2] === '--serve-floor' ? Promise.resolve(serveFloor(process.argv[3])) : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
