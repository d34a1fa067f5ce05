#!/usr/bin/env node
/**
 * npm run bench:renew — 100 certificates from a real Pebble (Debian's pebble + pebble-challtestsrv,
 * PEBBLE_VA_NOSLEEP), issued two ways at the same concurrency, each with real http-01 validation:
 *   - ours: the renewal worker (`Worker.check()` from dist/) over 100 configured domains with no
 *     certificate: policy, lock, ACME order, atomic install with backups, state file;
 *   - bare: an acme-client `client.auto()` loop doing the same orders (fresh P-256 key, CSR,
 *     http-01 through a tiny responder) and writing the two files.
 * Each side runs twice on fresh names (Pebble reuses valid authorizations per account); the better
 * run counts. Prints both times and the ratio. Target: ours <= 1.3x bare.
 * Usage: node bench/renew.js [certificates] [concurrency]   (default 100 4)
 */
require('./lib/ts-helpers');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const acme = require('acme-client');
const { startPebble } = require('../test/helpers/pebble.ts');
const { loadConfig } = require('../dist/config');
const { Worker } = require('../dist/processes/worker');
const { createLogger } = require('../dist/shared/log');

const COUNT = Number(process.argv[2]) || 100;
const CONCURRENCY = Number(process.argv[3]) || 4;
const names = (tag) => Array.from({ length: COUNT }, (_, i) => `${tag}-${i}.bench.test`);

async function ours(pebble, tag) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bench-ours-'));
  const file = path.join(root, 'xmpp-cert.yml');
  fs.writeFileSync(
    file,
    JSON.stringify({
      prosody: { config: null, certs: path.join(root, 'certs') },
      domains: names(tag),
      probes: { enabled: false },
      renewal: {
        stateDir: path.join(root, 'state'),
        concurrency: CONCURRENCY,
        retry: { count: 1 },
        // A bench of 100 orders on one account: the hourly cap (default 20) would hold most back.
        maxOrdersPerHour: 100000,
        issuers: [
          { type: 'acme', directory: pebble.directoryUrl, ca: [pebble.caFile], challenge: { type: 'http-01', listen: `127.0.0.1:${pebble.httpPort}` } },
        ],
      },
    }),
  );
  fs.mkdirSync(path.join(root, 'certs'));
  const worker = new Worker(loadConfig({ file }), createLogger('silent'), { step: () => undefined });
  const started = process.hrtime.bigint();
  const outcomes = await worker.check();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await worker.stop();
  const renewed = outcomes.filter((o) => o.result === 'renewed').length;
  if (renewed !== COUNT)
    throw new Error(
      `ours: ${renewed}/${COUNT} renewed: ${outcomes
        .filter((o) => o.error)
        .map((o) => o.error.message)
        .slice(0, 3)
        .join('; ')}`,
    );
  return seconds;
}

async function bare(pebble, tag) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-bench-bare-'));
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: fs.readFileSync(pebble.caFile), keepAlive: true });
  const tokens = new Map();
  const responder = http.createServer((req, res) => {
    const token = req.url.split('/').pop();
    res.writeHead(tokens.has(token) ? 200 : 404).end(tokens.get(token) ?? '');
  });
  await new Promise((resolve) => responder.listen(pebble.httpPort, '127.0.0.1', resolve));
  const client = new acme.Client({ directoryUrl: pebble.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey('P-256') });
  await client.createAccount({ termsOfServiceAgreed: true });
  const started = process.hrtime.bigint();
  const queue = names(tag);
  const lane = async () => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      const [key, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
      const cert = await client.auto({
        csr,
        termsOfServiceAgreed: true,
        skipChallengeVerification: true,
        challengePriority: ['http-01'],
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => void tokens.set(challenge.token, keyAuthorization),
        challengeRemoveFn: async (_authz, challenge) => void tokens.delete(challenge.token),
      });
      fs.mkdirSync(path.join(root, name));
      fs.writeFileSync(path.join(root, name, 'privkey.pem'), key, { mode: 0o600 });
      fs.writeFileSync(path.join(root, name, 'fullchain.pem'), cert);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await new Promise((resolve) => responder.close(resolve));
  return seconds;
}

async function main() {
  console.log(
    `bench:renew on ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}: ${COUNT} certificates, concurrency ${CONCURRENCY}\n`,
  );
  const pebble = await startPebble();
  try {
    const times = { bare: [], ours: [] };
    for (const run of [1, 2]) {
      times.bare.push(await bare(pebble, `bare${run}`));
      times.ours.push(await ours(pebble, `ours${run}`));
    }
    const best = { bare: Math.min(...times.bare), ours: Math.min(...times.ours) };
    const ratio = best.ours / best.bare;
    const row = (label, side) =>
      `| ${label} | ${best[side].toFixed(2)} s | ${(COUNT / best[side]).toFixed(1)} /s | ${times[side].map((t) => t.toFixed(2)).join(', ')} s |`;
    console.log(
      ['| issuer | best time | certificates/s | all runs |', '|---|---|---|---|', row('ours (worker)', 'ours'), row('bare (acme-client loop)', 'bare')].join(
        '\n',
      ),
    );
    console.log(`\nratio ours/bare: ${ratio.toFixed(2)}x (target <= 1.30x) ${ratio <= 1.3 ? 'MET' : 'MISSED'}`);
  } finally {
    await pebble.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
