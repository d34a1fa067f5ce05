#!/usr/bin/env node
/**
 * npm run bench:scan — scan and scrape figures at 1,000 and 10,000 certificate files, beside the
 * floors measured in the same run:
 *   - cold full scan (stat, read, parse, discover, evaluate) vs. reading + parsing the same files
 *     with node's crypto.X509Certificate alone (the parse floor);
 *   - warm /metrics latency p50/p99 over 200 sequential scrapes of the real HTTP app vs. prom-client
 *     exposition of the same number of series on a bare Registry (the exposition floor);
 *   - RSS after the scrapes.
 * Each file is a Prosody-layout fullchain.pem (leaf + intermediate), one watched domain per file.
 * Targets at 10,000 files: warm p50 <= 100 ms and <= 1.2x the exposition floor, cold scan <= 1.5x
 * the parse floor, RSS <= 150 MB. Prints a table; writes nothing outside a temp directory.
 * Usage: node bench/scan.js [counts...]   (default: 1000 10000)
 */
require('reflect-metadata');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const x509 = require('@peculiar/x509');
const { Gauge, Registry } = require('prom-client');
const { loadConfig } = require('../dist/config');
const { Exporter } = require('../dist/exporter');
const { createLogger } = require('../dist/shared/log');

x509.cryptoProvider.set(crypto.webcrypto);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const SCRAPES = 200;

async function mintTree(dir, count) {
  const subtle = crypto.webcrypto.subtle;
  const caKeys = await subtle.generateKey(ALG, true, ['sign', 'verify']);
  const leafKeys = await subtle.generateKey(ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=Bench Intermediate', notBefore: new Date(now - 86400e3), notAfter: new Date(now + 3650 * 86400e3),
    signingAlgorithm: ALG, keys: caKeys, extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const caPem = ca.toString('pem');
  const keyPem = x509.PemConverter.encode(await subtle.exportKey('pkcs8', leafKeys.privateKey), 'PRIVATE KEY');
  const domains = [];
  for (let i = 0; i < count; i++) {
    const name = `d${i}.bench.example`;
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: (0x100000 + i).toString(16), subject: `CN=${name}`, issuer: ca.subject,
      notBefore: new Date(now - 86400e3), notAfter: new Date(now + ((i % 90) + 1) * 86400e3),
      signingAlgorithm: ALG, publicKey: leafKeys.publicKey, signingKey: caKeys.privateKey,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }, { type: 'dns', value: `upload.${name}` }])],
    });
    fs.mkdirSync(path.join(dir, name));
    fs.writeFileSync(path.join(dir, name, 'fullchain.pem'), `${leaf.toString('pem')}\n${caPem}\n`);
    fs.writeFileSync(path.join(dir, name, 'privkey.pem'), keyPem, { mode: 0o600 });
    domains.push(name);
  }
  return domains;
}

/** Floor: read every file and parse each PEM block with X509Certificate, nothing else. */
async function parseFloor(dir) {
  const started = process.hrtime.bigint();
  const names = fs.readdirSync(dir);
  let certs = 0;
  for (const name of names) {
    const text = fs.readFileSync(path.join(dir, name, 'fullchain.pem'), 'latin1');
    for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) {
      const c = new crypto.X509Certificate(m[0]);
      if (c.validTo) certs++;
    }
  }
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, certs };
}

/** Floor: a bare prom-client Registry holding the same number of series, one gauge per family. */
async function expositionFloor(families) {
  const registry = new Registry();
  for (const [name, samples] of families) {
    const labelNames = samples.length ? Object.keys(samples[0]) : [];
    const gauge = new Gauge({ name: `floor_${name}`, help: 'floor', labelNames, registers: [registry] });
    for (const labels of samples) gauge.set(labels, 1);
  }
  const times = [];
  for (let i = 0; i < SCRAPES; i++) {
    const t = process.hrtime.bigint();
    await registry.metrics();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(times);
}

/** The label sets our /metrics carries, per family, to rebuild the same series count. */
function familiesOf(text) {
  const families = new Map();
  for (const line of text.split('\n')) {
    const m = /^(xmpp_cert_[a-z_]+)\{(.*)\} /.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (!families.has(m[1])) families.set(m[1], []);
    families.get(m[1]).push(labels);
  }
  return families;
}

function stats(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: keepAlive }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    }).on('error', reject);
  });
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

async function run(count) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bench-scan-'));
  const dir = path.join(root, 'certs');
  fs.mkdirSync(dir);
  const mintStart = Date.now();
  const domains = await mintTree(dir, count);
  const mintSeconds = (Date.now() - mintStart) / 1000;
  const configFile = path.join(root, 'config.yml');
  fs.writeFileSync(configFile, `prosody:\n  config: null\n  certs: ${dir}\ndomains:\n${domains.map((d) => `  - ${d}`).join('\n')}\nserver:\n  listen: 127.0.0.1:0\nscan:\n  interval: 1h\nlogging:\n  level: warn\n`);

  // Drop the page cache effect as far as we can: both cold measurements read files once before.
  await parseFloor(dir);
  const floor = await parseFloor(dir);

  const loaded = loadConfig({ file: configFile, env: {} });
  const exporter = new Exporter(loaded, () => loadConfig({ file: configFile, env: {} }), createLogger('warn'));
  const scanStart = process.hrtime.bigint();
  const report = await exporter.scan();
  const scanMs = Number(process.hrtime.bigint() - scanStart) / 1e6;
  const server = await exporter.start();

  const first = await get(`${server.url}/metrics`);
  const times = [];
  for (let i = 0; i < SCRAPES; i++) {
    const t = process.hrtime.bigint();
    await get(`${server.url}/metrics`);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const warm = stats(times);
  const families = familiesOf(first);
  const series = [...families.values()].reduce((n, s) => n + s.length, 0);
  const expo = await expositionFloor(families);
  const rssMb = process.memoryUsage().rss / 1024 / 1024;
  await exporter.stop();
  keepAlive.destroy();
  fs.rmSync(root, { recursive: true, force: true });
  return { count, mintSeconds, domains: report.domains.length, certs: floor.certs, series, scanMs, parseFloorMs: floor.ms, warm, expo, rssMb };
}

function printRow(r) {
  const f = (n, d = 1) => n.toFixed(d);
  const lines = [
    `files: ${r.count}  (${r.certs} certificates, ${r.domains} domains, ${r.series} xmpp_cert_ series; minted in ${f(r.mintSeconds)} s)`,
    `| figure | ours | floor | ratio | target |`,
    `|---|---|---|---|---|`,
    `| cold full scan (ms) | ${f(r.scanMs)} | ${f(r.parseFloorMs)} (read + X509Certificate) | ${f(r.scanMs / r.parseFloorMs, 2)}x | <= 1.5x |`,
    `| warm /metrics p50 (ms) | ${f(r.warm.p50)} | ${f(r.expo.p50)} (prom-client exposition) | ${f(r.warm.p50 / r.expo.p50, 2)}x | <= 100 ms and <= 1.2x |`,
    `| warm /metrics p99 (ms) | ${f(r.warm.p99)} | ${f(r.expo.p99)} | ${f(r.warm.p99 / r.expo.p99, 2)}x | |`,
    `| RSS after scrapes (MB) | ${f(r.rssMb)} | | | <= 150 MB |`,
  ];
  console.log(lines.join('\n') + '\n');
}

(async () => {
  const counts = process.argv.slice(2).map(Number).filter(Boolean);
  console.log(`bench:scan on ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`);
  for (const count of counts.length ? counts : [1000, 10000]) printRow(await run(count));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
