#!/usr/bin/env node
/**
 * npm run bench:probe — 1,000 direct-TLS endpoints on loopback (a child process serving
 * certificates with distinct notAfter dates), probed once each through our exporter's /probe
 * (module c2s_tls) and through Debian's prometheus-blackbox-exporter (tcp prober, tls: true), by
 * the same HTTP driver at the same concurrency, in two blackbox setups: TLS only
 * (insecure_skip_verify, what a bare expiry check needs) and the same work as ours (the chain
 * verified against a CA file and the name checked: one module per domain with its server_name).
 * Prints wall time, probes per second, CPU time per probe of each exporter process (from
 * /proc/<pid>/stat), the ratio, and whether both report the same notAfter for every endpoint.
 * Beside them, node's own floor: a process doing nothing but tls.connect + getPeerX509Certificate
 * on the same endpoints at the same concurrency (no HTTP, no parsing, no judging), to tell what
 * the runtime's TLS costs from what our code adds.
 * Our /probe does more per endpoint than the floor: it also restarts the XMPP stream over TLS
 * and reads its features (these endpoints close at once, so that read ends at the close), judges
 * the chain and renders the answer over HTTP.
 * Targets: ratio >= 1.0 with identical values; our CPU per probe <= 1.25x the floor's in the same run.
 * With BENCH_CPU_PROF=DIR the exporter runs with --cpu-prof into DIR, and its self time is printed
 * by kind of work (the whole process: start-up and the warm-up pass included).
 * Usage: node bench/probe.js [endpoints] [concurrency]   (default 1000 8)
 */
require('reflect-metadata');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { spawn, spawnSync } = require('node:child_process');
const x509 = require('@peculiar/x509');

x509.cryptoProvider.set(crypto.webcrypto);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const COUNT = Number(process.argv[2]) || 1000;
const CONCURRENCY = Number(process.argv[process.argv[2] === '--tls-floor' ? 4 : 3]) || 8;

/** Child mode: serve the minted certificates, one TLS listener each, print the ports. */
async function serveEndpoints(dir) {
  const ports = [];
  for (const name of fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.crt'))
    .sort((a, b) => parseInt(a) - parseInt(b))) {
    const server = tls.createServer({ cert: fs.readFileSync(path.join(dir, name)), key: fs.readFileSync(path.join(dir, 'key.pem')) }, (s) => s.end());
    server.on('tlsClientError', () => undefined);
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports.push(server.address().port);
  }
  process.stdout.write(JSON.stringify(ports) + '\n');
}

async function mint(dir) {
  const keys = await crypto.webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  fs.writeFileSync(path.join(dir, 'key.pem'), x509.PemConverter.encode(await crypto.webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'));
  const now = Date.now();
  for (let i = 0; i < COUNT; i++) {
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: (0x1000 + i).toString(16),
      name: `CN=d${i}.bench.test`,
      notBefore: new Date(now - 86400e3),
      notAfter: new Date(Math.floor((now + (i + 1) * 3600e3) / 1000) * 1000),
      signingAlgorithm: ALG,
      keys,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: `d${i}.bench.test` }])],
    });
    fs.writeFileSync(path.join(dir, `${i}.crt`), cert.toString('pem'));
  }
}

/** Child mode: the node TLS floor over `ports`, after a warm-up pass over the first 100; prints wall and CPU seconds. */
async function tlsFloor(ports) {
  await tlsPass(ports.slice(0, 100));
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await tlsPass(ports);
  const used = process.cpuUsage(cpu);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, cpu: (used.user + used.system) / 1e6 };
}

async function tlsPass(ports) {
  let cursor = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (cursor < ports.length) {
        const port = ports[cursor++];
        await new Promise((resolve, reject) => {
          const socket = tls.connect({ host: '127.0.0.1', port, servername: 'bench.test', rejectUnauthorized: false }, () => {
            if (!socket.getPeerX509Certificate()) reject(new Error('no certificate'));
            socket.end();
            resolve();
          });
          socket.on('error', reject);
        });
      }
    }),
  );
}

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}
async function waitUp(url) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await get(url)).status === 200) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

/** User + system CPU seconds a process has used so far (clock ticks of 10 ms). */
function cpuSeconds(pid) {
  const fields = fs
    .readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Every URL once, CONCURRENCY at a time; returns wall seconds, `pid`'s CPU seconds and the bodies. */
async function drive(urls, pid) {
  const bodies = new Array(urls.length);
  let cursor = 0;
  const cpu = cpuSeconds(pid);
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (cursor < urls.length) {
        const i = cursor++;
        bodies[i] = (await get(urls[i])).body;
      }
    }),
  );
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, cpu: cpuSeconds(pid) - cpu, bodies };
}

const sampleOf = (body, name) => Number((new RegExp(`^${name}(?:\\{[^}]*position="0"[^}]*\\}|\\{[^}]*\\})? (\\S+)$`, 'm').exec(body) || [])[1]);

/** What the exporter spent its CPU on, from the newest .cpuprofile in `dir`: self time by kind of work. */
function printProfile(dir) {
  const file = fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.cpuprofile'))
    .map((n) => path.join(dir, n))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  if (!file) return;
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const KINDS = [
    ['idle', (f) => f.functionName === '(idle)'],
    ['garbage collection', (f) => f.functionName === '(garbage collector)'],
    ['certificate model (dist/cert, node X509 getters and verify)', (f) => f.url.includes('/dist/cert/') || /node:internal\/crypto\/(x509|keys)/.test(f.url)],
    ['TLS (node)', (f) => /node:(_tls|tls|internal\/tls|internal\/crypto)/.test(f.url) || /^(TLSSocket|methodProxy)/.test(f.functionName)],
    ['HTTP (node http, express)', (f) => /node:(_http|http)|express|router|finalhandler|send\b/.test(f.url)],
    ['HTTP answers written (writev)', (f) => f.url === '' && f.functionName === 'writev'],
    [
      'TLS records written and closed (writeUtf8String, writeBuffer, shutdown)',
      (f) => f.url === '' && /^(writeUtf8String|writeBuffer|shutdown)$/.test(f.functionName),
    ],
    ['XMPP stream and probe (dist/sources)', (f) => f.url.includes('/dist/sources/')],
    ['judging (dist/evaluate)', (f) => f.url.includes('/dist/evaluate/')],
    ['rendering (dist/metrics)', (f) => f.url.includes('/dist/metrics/')],
    [
      'start-up (module loading, config, registry)',
      (f) => /loader|realm|yaml|zod|prom-client|pino|redact|dist\/(cli|config)/.test(f.url) || f.functionName === 'wrapSafe',
    ],
  ];
  const totals = new Map(KINDS.map(([k]) => [k, 0]).concat([['other', 0]]));
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id);
    const kind = KINDS.find(([, test]) => test(frame))?.[0] ?? 'other';
    totals.set(kind, totals.get(kind) + (profile.timeDeltas[i] || 0) / 1000);
  });
  const busy = [...totals].filter(([k]) => k !== 'idle').reduce((sum, [, ms]) => sum + ms, 0);
  console.log(`\nexporter CPU profile (self time, whole process, ${Math.round(busy)} ms busy):\n`);
  console.log('| kind of work | ms | share |');
  console.log('|---|---|---|');
  for (const [kind, ms] of [...totals].filter(([k]) => k !== 'idle').sort((a, b) => b[1] - a[1])) {
    console.log(`| ${kind} | ${ms.toFixed(0)} | ${((ms / busy) * 100).toFixed(0)}% |`);
  }
}

(async () => {
  if (process.argv[2] === '--serve') return serveEndpoints(process.argv[3]);
  if (process.argv[2] === '--tls-floor') return console.log(JSON.stringify(await tlsFloor(JSON.parse(process.argv[3]))));
  if (spawnSync('sh', ['-c', 'command -v prometheus-blackbox-exporter']).status !== 0) {
    console.error('prometheus-blackbox-exporter is not installed: apt-get install prometheus-blackbox-exporter');
    process.exit(1);
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bench-probe-'));
  await mint(root);
  const endpoints = spawn(process.execPath, [__filename, '--serve', root], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise((resolve) => endpoints.stdout.once('data', (d) => resolve(JSON.parse(d.toString()))));

  const oursPort = await freePort();
  const endpointsYaml = ports.map((port, i) => `    - { domain: d${i}.bench.test, host: 127.0.0.1, port: ${port}, service: c2s, tls: direct }`).join('\n');
  fs.writeFileSync(
    path.join(root, 'ours.yml'),
    `prosody:\n  config: null\ndomains: [${ports.map((_, i) => `d${i}.bench.test`).join(', ')}]\nprobes:\n  enabled: false\n  srv: false\n  timeout: 10s\n  endpoints:\n${endpointsYaml}\nserver:\n  listen: 127.0.0.1:${oursPort}\nlogging:\n  level: warn\n`,
  );
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const ours = spawn(process.execPath, [...profile, path.join(__dirname, '../dist/cli.js'), 'serve', '--config', path.join(root, 'ours.yml')], {
    stdio: 'ignore',
  });
  const bbPort = await freePort();
  // Every served certificate is self-signed: each verifying module trusts its endpoint's own
  // certificate (blackbox reads ca_file on every probe, so one bundle of all would cost it a
  // 1,000-certificate parse per probe) and checks the domain's name.
  const verifying = ports.map(
    (_, i) =>
      `  tls_verify_${i}:\n    prober: tcp\n    timeout: 10s\n    tcp:\n      tls: true\n      tls_config:\n        ca_file: ${path.join(root, `${i}.crt`)}\n        server_name: d${i}.bench.test\n`,
  );
  fs.writeFileSync(
    path.join(root, 'blackbox.yml'),
    `modules:\n  tls_connect:\n    prober: tcp\n    timeout: 10s\n    tcp:\n      tls: true\n      tls_config:\n        insecure_skip_verify: true\n${verifying.join('')}`,
  );
  const bb = spawn('prometheus-blackbox-exporter', [`--config.file=${path.join(root, 'blackbox.yml')}`, `--web.listen-address=127.0.0.1:${bbPort}`], {
    stdio: 'ignore',
  });
  try {
    await waitUp(`http://127.0.0.1:${oursPort}/readyz`);
    await waitUp(`http://127.0.0.1:${bbPort}/metrics`);
    const oursUrls = ports.map((_, i) => `http://127.0.0.1:${oursPort}/probe?target=d${i}.bench.test&module=c2s_tls`);
    const bbUrls = ports.map((port) => `http://127.0.0.1:${bbPort}/probe?target=127.0.0.1:${port}&module=tls_connect`);
    const bbVerifyUrls = ports.map((port, i) => `http://127.0.0.1:${bbPort}/probe?target=127.0.0.1:${port}&module=tls_verify_${i}`);
    // A warm-up pass over the first 100 endpoints each, so neither pays first-call costs (JIT) inside the measurement.
    for (const urls of [oursUrls, bbUrls, bbVerifyUrls]) await drive(urls.slice(0, 100), process.pid);

    const mine = await drive(oursUrls, ours.pid);
    const theirs = await drive(bbUrls, bb.pid);
    const theirsVerifying = await drive(bbVerifyUrls, bb.pid);
    const floor = JSON.parse(spawnSync(process.execPath, [__filename, '--tls-floor', JSON.stringify(ports), String(CONCURRENCY)], { encoding: 'utf8' }).stdout);
    const verified = theirsVerifying.bodies.filter((b) => /^probe_success 1$/m.test(b)).length;
    let same = 0;
    const differ = [];
    ports.forEach((_, i) => {
      const a = sampleOf(mine.bodies[i], 'xmpp_cert_not_after_timestamp_seconds');
      const b = sampleOf(theirs.bodies[i], 'probe_ssl_earliest_cert_expiry');
      if (a === b && Number.isFinite(a)) same++;
      else differ.push(`d${i}: ours ${a}, blackbox ${b}`);
    });
    const f = (n, d = 2) => n.toFixed(d);
    console.log(`bench:probe on ${os.cpus().length} cores, Node ${process.version}: ${COUNT} direct-TLS endpoints, concurrency ${CONCURRENCY}\n`);
    console.log(
      '| figure | ours (/probe c2s_tls: trust, names, key, status) | blackbox_exporter, TLS only (insecure_skip_verify) | ratio (theirs/ours time) | blackbox_exporter, same work (ca_file + server_name) | ratio | target |',
    );
    console.log('|---|---|---|---|---|---|---|');
    console.log(
      `| wall time (s) | ${f(mine.seconds, 3)} | ${f(theirs.seconds, 3)} | ${f(theirs.seconds / mine.seconds)}x | ${f(theirsVerifying.seconds, 3)} | ${f(theirsVerifying.seconds / mine.seconds)}x | >= 1.0x |`,
    );
    console.log(`| probes per second | ${f(COUNT / mine.seconds, 1)} | ${f(COUNT / theirs.seconds, 1)} | | ${f(COUNT / theirsVerifying.seconds, 1)} | | |`);
    console.log(
      `| exporter CPU per probe (ms, user + system) | ${f((mine.cpu * 1000) / COUNT)} | ${f((theirs.cpu * 1000) / COUNT)} | ${f(theirs.cpu / mine.cpu)}x | ${f((theirsVerifying.cpu * 1000) / COUNT)} | ${f(theirsVerifying.cpu / mine.cpu)}x | |`,
    );
    console.log(`| same notAfter / verified | ${same}/${COUNT} | | | ${verified}/${COUNT} probe_success | | all |`);
    console.log(
      `\nnode's TLS floor (tls.connect + getPeerX509Certificate only, own process, same endpoints and concurrency): ${f(floor.seconds, 3)} s, ${f(COUNT / floor.seconds, 1)} probes/s, ${f((floor.cpu * 1000) / COUNT)} ms CPU per probe; blackbox TLS only / floor time: ${f(theirs.seconds / floor.seconds)}x.`,
    );
    console.log(
      `ours / floor, CPU per probe: ${f(mine.cpu / COUNT / (floor.cpu / COUNT))}x (target <= 1.25x); ours / floor, wall time: ${f(mine.seconds / floor.seconds)}x.`,
    );
    if (differ.length) console.log(`differences: ${differ.slice(0, 5).join('; ')}`);
  } finally {
    const exited = new Promise((resolve) => ours.once('exit', resolve));
    for (const p of [ours, bb, endpoints]) p.kill('SIGTERM');
    agent.destroy();
    fs.rmSync(root, { recursive: true, force: true });
    if (process.env.BENCH_CPU_PROF) {
      await exited;
      printProfile(process.env.BENCH_CPU_PROF);
    }
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
