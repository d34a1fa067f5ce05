#!/usr/bin/env node
/**
 * npm run bench:soak — the worker over time: a real `xmpp-cert worker` process renews 50 groups
 * from a real Pebble issuing 60-second certificates with a 50% renewal threshold (so every group
 * comes due every ~30 s), installs into a real Prosody's certificate directory, reloads it through
 * its pidfile (SIGHUP) and verifies the served certificate over c2s, until ~500 renewals are done.
 * Samples the worker's RSS and open file descriptors every 10 s. At the end checks: every
 * renewal installed and verified, the state file's success count equals what Pebble issued,
 * no failure, no lock left, no temp file left.
 * Usage: node bench/soak.js [renewals] [groups] [lifetime seconds]   (default 500 50 60)
 */
require('./lib/ts-helpers');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { machine, rssMb } = require('./lib/common');
const { startPebble } = require('../test/helpers/pebble.ts');
const { startProsody } = require('../test/helpers/prosody-server.ts');

const RENEWALS = Number(process.argv[2]) || 500;
const GROUPS = Number(process.argv[3]) || 50;
const LIFETIME = Number(process.argv[4]) || 60;
const SAMPLE_MS = 10_000;
const MAX_MINUTES = 30;

const fds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const readState = (dir) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
  } catch {
    return { groups: {} };
  }
};
const total = (state, pick) => Object.values(state.groups).reduce((n, g) => n + pick(g), 0);
const failures = (g) => Object.values(g.failures).reduce((a, b) => a + b, 0);

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

async function main() {
  const domains = Array.from({ length: GROUPS }, (_, i) => `s${i}.soak.test`);
  const pebble = await startPebble({ certificateValidityPeriod: LIFETIME });
  const prosody = await startProsody({ hosts: domains, writeCerts: () => undefined });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bench-soak-'));
  const stateDir = path.join(root, 'state');
  const config = path.join(root, 'xmpp-cert.yml');
  fs.writeFileSync(
    config,
    JSON.stringify({
      prosody: { config: path.join(prosody.dir, 'prosody.cfg.lua') },
      thresholds: { renewal: '50%' },
      probes: { srv: false, timeout: '5s', endpoints: domains.map((domain) => ({ domain, host: '127.0.0.1', port: prosody.ports.c2s, service: 'c2s' })) },
      renewal: {
        stateDir,
        jitter: 0,
        concurrency: 4,
        retry: { count: 1 },
        backoff: { initial: '5s', max: '30s' },
        // Hundreds of orders an hour on one account, on purpose: the default cap (20) would hold them back.
        maxOrdersPerHour: 100000,
        issuers: [
          { type: 'acme', directory: pebble.directoryUrl, ca: [pebble.caFile], challenge: { type: 'http-01', listen: `127.0.0.1:${pebble.httpPort}` } },
        ],
        reload: { signal: 'HUP', pidfile: path.join(prosody.dir, 'prosody.pid') },
        verify: { timeout: '20s' },
      },
    }),
  );
  const worker = spawn(process.execPath, [path.join(__dirname, '../dist/cli.js'), 'worker', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  let log = '';
  worker.stdout.on('data', (d) => (log += d));
  const started = Date.now();
  const samples = [];
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
      const state = readState(stateDir);
      const done = total(state, (g) => g.successes);
      samples.push({ t: (Date.now() - started) / 1000, rss: rssMb(worker.pid), fds: fds(worker.pid), done });
      process.stderr.write(`  ${samples.at(-1).t.toFixed(0)} s: ${done} renewals, RSS ${samples.at(-1).rss.toFixed(1)} MB, ${samples.at(-1).fds} fds\n`);
      if (done >= RENEWALS || Date.now() - started > MAX_MINUTES * 60_000) break;
    }
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
  }
  const state = readState(stateDir);
  const successes = total(state, (g) => g.successes);
  const failed = total(state, failures);
  const issued = (pebble.log().match(/Issued certificate serial/g) || []).length;
  const installed = (log.match(/: installed /g) || []).length;
  const verified = (log.match(/: verify: served/g) || []).length;
  const locks = fs.existsSync(path.join(stateDir, 'locks')) ? fs.readdirSync(path.join(stateDir, 'locks')).filter((n) => n.endsWith('.lock')) : [];
  const temps = walk(prosody.certs).filter((f) => /tmp/.test(path.basename(f)) || /\.tmp-/.test(f));
  await prosody.stop();
  await pebble.stop();
  fs.rmSync(root, { recursive: true, force: true });

  // Flat: compare the first sample after every group had its first certificate with the last.
  const warm = samples.find((s) => s.done >= GROUPS) ?? samples[0];
  const last = samples.at(-1);
  const f = (n, d = 1) => n.toFixed(d);
  console.log(`bench:soak on ${machine()}: ${GROUPS} groups, ${LIFETIME} s certificates, renewal at 50%, ${f(last.t, 0)} s\n`);
  console.log('| figure | ours | reference | ratio | target |');
  console.log('|---|---|---|---|---|');
  console.log(
    `| renewals installed / verified served | ${installed} / ${verified} | ${successes} successes in the state file | ${f(verified / Math.max(installed, 1), 2)} | all verified, >= ${RENEWALS} |`,
  );
  console.log(`| state successes vs certificates Pebble issued | ${successes} | ${issued} (Pebble's log) | ${f(successes / Math.max(issued, 1), 2)} | equal |`);
  console.log(`| failed attempts | ${failed} | | | 0 |`);
  console.log(
    `| worker RSS, all groups issued -> end (MB) | ${f(warm.rss)} -> ${f(last.rss)} | max ${f(Math.max(...samples.map((s) => s.rss)))} | ${f(last.rss / warm.rss, 2)} | flat (within 10%) |`,
  );
  console.log(
    `| worker open fds, all groups issued -> end | ${warm.fds} -> ${last.fds} | max ${Math.max(...samples.map((s) => s.fds))} | ${f(last.fds / warm.fds, 2)} | flat |`,
  );
  console.log(`| locks / temp files left after SIGTERM | ${locks.length} / ${temps.length} | | | 0 / 0 |`);
  console.log('');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
