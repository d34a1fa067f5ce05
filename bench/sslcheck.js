#!/usr/bin/env node
/**
 * npm run bench:sslcheck — the kind of shell tooling this project replaces, on the same work:
 * 1,000 certificate files (expiring in 1..90 days), checked by Debian's `ssl-cert-check -d DIR`
 * and by `xmpp-cert monitor --no-probe --json` (a real process each, wall time from spawn to exit).
 * Both read the same leaf certificates: ssl-cert-check a flat directory of the fullchain files,
 * xmpp-cert the Prosody layout they were copied from. Prints both times, the ratio, and whether
 * both report the same expiry date for every domain. Target: >= 100x faster, full agreement.
 * Usage: node bench/sslcheck.js [files]   (default 1000)
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { machine, mintTree } = require('./lib/common');

const COUNT = Number(process.argv[2]) || 1000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function timed(command, args) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.error) throw result.error;
  return { seconds, stdout: result.stdout, status: result.status };
}

/** ssl-cert-check prints `FILE:<path>  Valid  Dec 28, 2026  30`; its date is openssl's GMT notAfter day. */
function theirDates(stdout) {
  const dates = new Map();
  for (const m of stdout.matchAll(/FILE:\S*\/([^/\s]+)\.pem\s+\S+\s+(\w{3}) +(\d+),? +(\d{4})/g)) {
    dates.set(m[1], `${m[4]}-${String(MONTHS.indexOf(m[2]) + 1).padStart(2, '0')}-${m[3].padStart(2, '0')}`);
  }
  return dates;
}

function ourDates(stdout) {
  const report = JSON.parse(stdout);
  return new Map(report.domains.map((d) => [d.domain, d.not_after ? d.not_after.slice(0, 10) : null]));
}

async function main() {
  if (spawnSync('sh', ['-c', 'command -v ssl-cert-check']).status !== 0) throw new Error('ssl-cert-check is not installed (apt-get install ssl-cert-check)');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bench-sslcheck-'));
  const tree = path.join(root, 'certs');
  const flat = path.join(root, 'flat');
  fs.mkdirSync(tree);
  fs.mkdirSync(flat);
  const domains = await mintTree(tree, COUNT);
  for (const d of domains) fs.copyFileSync(path.join(tree, d, 'fullchain.pem'), path.join(flat, `${d}.pem`));
  const config = path.join(root, 'xmpp-cert.yml');
  fs.writeFileSync(config, JSON.stringify({ prosody: { config: null, certs: tree }, domains, probes: { enabled: false } }));

  const theirs = timed('ssl-cert-check', ['-b', '-d', flat]);
  const ours = timed(process.execPath, [path.join(__dirname, '../dist/cli.js'), 'monitor', '--no-probe', '--json', '--config', config]);
  const a = ourDates(ours.stdout);
  const b = theirDates(theirs.stdout);
  const differ = domains.filter((d) => !a.get(d) || a.get(d) !== b.get(d));
  fs.rmSync(root, { recursive: true, force: true });

  const f = (n, d = 2) => n.toFixed(d);
  console.log(`bench:sslcheck on ${machine()}: ${COUNT} certificate files\n`);
  console.log('| figure | ours (xmpp-cert monitor --no-probe --json) | ssl-cert-check -d | ratio (theirs/ours time) | target |');
  console.log('|---|---|---|---|---|');
  console.log(`| wall time (s) | ${f(ours.seconds)} | ${f(theirs.seconds)} | ${f(theirs.seconds / ours.seconds, 1)}x | >= 100x |`);
  console.log(`| same expiry date | ${COUNT - differ.length}/${COUNT} | ${b.size} dates read | | all |`);
  if (differ.length)
    console.log(
      `\ndifferences (first 5): ${differ
        .slice(0, 5)
        .map((d) => `${d}: ours ${a.get(d)} theirs ${b.get(d)}`)
        .join('; ')}`,
    );
  console.log('');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
