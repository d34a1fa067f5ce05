/**
 * What the bench scripts share: minting a Prosody-layout certificate tree (leaf + intermediate per
 * domain, distinct expiry dates), starting the built exporter as a real process, a keep-alive GET,
 * percentiles and a process's RSS. Plain JavaScript on dist/; no test helper here.
 */
require('reflect-metadata');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const x509 = require('@peculiar/x509');

x509.cryptoProvider.set(crypto.webcrypto);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** `count` domains d<i>.bench.example in `dir`, each `<name>/fullchain.pem` + `privkey.pem`, expiring in 1..90 days. */
async function mintTree(dir, count) {
  const subtle = crypto.webcrypto.subtle;
  const caKeys = await subtle.generateKey(ALG, true, ['sign', 'verify']);
  const leafKeys = await subtle.generateKey(ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Bench Intermediate',
    notBefore: new Date(now - 86400e3),
    notAfter: new Date(now + 3650 * 86400e3),
    signingAlgorithm: ALG,
    keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const caPem = ca.toString('pem');
  const keyPem = x509.PemConverter.encode(await subtle.exportKey('pkcs8', leafKeys.privateKey), 'PRIVATE KEY');
  const domains = [];
  for (let i = 0; i < count; i++) {
    const name = `d${i}.bench.example`;
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: (0x100000 + i).toString(16),
      subject: `CN=${name}`,
      issuer: ca.subject,
      notBefore: new Date(now - 86400e3),
      notAfter: new Date(now + ((i % 90) + 1) * 86400e3),
      signingAlgorithm: ALG,
      publicKey: leafKeys.publicKey,
      signingKey: caKeys.privateKey,
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: name },
          { type: 'dns', value: `upload.${name}` },
        ]),
      ],
    });
    fs.mkdirSync(path.join(dir, name));
    fs.writeFileSync(path.join(dir, name, 'fullchain.pem'), `${leaf.toString('pem')}\n${caPem}\n`);
    fs.writeFileSync(path.join(dir, name, 'privkey.pem'), keyPem, { mode: 0o600 });
    domains.push(name);
  }
  return domains;
}

function stats(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: keepAlive, headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      })
      .on('error', reject);
  });
}

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** Starts `serve` and resolves once it listens (its first scan may still run). */
async function spawnExporter(configFile, extraArgs = []) {
  const proc = spawn(process.execPath, [path.join(__dirname, '../../dist/cli.js'), 'serve', '--config', configFile, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exporter did not start:\n${out}`)), 60_000);
    proc.stdout.on('data', () => {
      const m = /metrics at (http:\/\/\S+)\/metrics/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return { proc, url };
}

/** `headers`: what /readyz needs, e.g. basic auth when a web config is given. */
async function startExporter(configFile, extraArgs = [], headers = {}) {
  const { proc, url } = await spawnExporter(configFile, extraArgs);
  for (;;) {
    const { status } = await get(`${url}/readyz`, headers);
    if (status === 200) break;
    if (status !== 503) throw new Error(`/readyz answered ${status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { proc, url };
}

const machine = () => `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;

module.exports = { mintTree, stats, get, keepAlive, rssMb, spawnExporter, startExporter, machine };
