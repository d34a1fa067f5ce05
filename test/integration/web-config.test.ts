/**
 * exporter-toolkit's web-config.yml on the real process: HTTPS with a certificate made by openssl,
 * basic auth with a bcrypt hash; a SIGHUP swaps in a new TLS certificate without a restart; 50
 * connections sending distinct wrong passwords do not hold up an authorised scraper.
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { opensslSelfSigned } from '../helpers/openssl';
import { startCli, waitFor, type Running } from '../helpers/process';
import { describeWithTools } from '../helpers/tools';

function get(url: string, ca: Buffer, auth?: string, agent: https.Agent | false = false): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, servername: 'localhost', ...(auth ? { auth } : {}), agent }, (res) => {
      let body = '';
      const serial = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber; // a kept-alive socket is gone by 'end'
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, serial }));
    });
    req.on('error', reject);
  });
}

describeWithTools(['openssl'], 'web-config.yml: TLS and basic auth', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-web-'));
  let exporter: Running;
  let tls: { cert: string; key: string };

  beforeAll(async () => {
    tls = opensslSelfSigned(path.join(root, 'tls'), ['localhost'], 30, 'exporter.crt', 'exporter.key');
    fs.writeFileSync(
      path.join(root, 'web-config.yml'),
      `tls_server_config:\n  cert_file: tls/exporter.crt\n  key_file: tls/exporter.key\nbasic_auth_users:\n  prometheus: ${bcrypt.hashSync('scrape-me', 10)}\n`,
    );
    fs.writeFileSync(path.join(root, 'xmpp-cert.yml'), 'prosody:\n  config: null\nprobes:\n  enabled: false\ndomains: [example.org]\n');
    exporter = await startCli([
      'serve',
      '--config',
      path.join(root, 'xmpp-cert.yml'),
      '--listen',
      '127.0.0.1:0',
      '--web.config.file',
      path.join(root, 'web-config.yml'),
    ]);
  });
  afterAll(async () => {
    await exporter?.stop();
  });

  test('https only, and basic auth on every path', async () => {
    expect(exporter.url).toMatch(/^https:/);
    const ca = fs.readFileSync(tls.cert);
    expect((await get(`${exporter.url}/metrics`, ca)).status).toBe(401);
    expect((await get(`${exporter.url}/healthz`, ca, 'prometheus:wrong')).status).toBe(401);
    const ok = await get(`${exporter.url}/metrics`, ca, 'prometheus:scrape-me');
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('xmpp_cert_domain_status{domain="example.org",status="missing"} 1');
  });

  test('50 connections sending distinct wrong passwords: the authorised scraper gets more answers than they get verdicts', async () => {
    const ca = fs.readFileSync(tls.cert);
    const keepAlive = () => new https.Agent({ keepAlive: true, maxSockets: 1, ca });
    expect((await get(`${exporter.url}/metrics`, ca, 'prometheus:scrape-me')).status).toBe(200); // checked once, now cached
    let stop = false;
    const verdicts: Array<{ status: number; at: number }> = [];
    const attackers = Array.from({ length: 50 }, async (_, c) => {
      const agent = keepAlive();
      for (let i = 0; !stop; i++)
        verdicts.push({ status: (await get(`${exporter.url}/metrics`, ca, `prometheus:wrong-${c}-${i}`, agent)).status, at: Date.now() });
      agent.destroy();
    });
    await waitFor(() => verdicts.length > 0, 10_000, 'the attack to be answered');
    const scrapes: number[] = [];
    const agent = keepAlive();
    const window = { from: Date.now(), to: Date.now() + 3000 };
    while (Date.now() < window.to) scrapes.push((await get(`${exporter.url}/metrics`, ca, 'prometheus:scrape-me', agent)).status);
    stop = true;
    await Promise.all(attackers);
    agent.destroy();
    const during = verdicts.filter((v) => v.at >= window.from && v.at <= window.to);
    expect(new Set(scrapes)).toEqual(new Set([200]));
    expect(new Set(verdicts.map((v) => v.status))).toEqual(new Set([401]));
    // Inline bcrypt (~55 ms each) made every scrape wait for the checks queued before it: about one
    // scrape per 50 verdicts. Off the event loop, a cached scrape waits for none of them.
    expect(scrapes.length).toBeGreaterThan(during.length);
  });

  test('SIGHUP serves a renewed TLS certificate without a restart', async () => {
    const before = (await get(`${exporter.url}/healthz`, fs.readFileSync(tls.cert), 'prometheus:scrape-me')).serial;
    const renewed = opensslSelfSigned(path.join(root, 'tls-new'), ['localhost'], 60, 'exporter.crt', 'exporter.key');
    fs.copyFileSync(renewed.cert, tls.cert);
    fs.copyFileSync(renewed.key, tls.key);
    exporter.child.kill('SIGHUP');
    const ca = fs.readFileSync(tls.cert);
    const after = await waitFor(
      async () => {
        const res = await get(`${exporter.url}/healthz`, ca, 'prometheus:scrape-me').catch(() => undefined);
        return res && res.serial !== before ? res : undefined;
      },
      10_000,
      'the new certificate',
    );
    expect(after.status).toBe(200);
  });
});
