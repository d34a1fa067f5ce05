/**
 * /probe under attack, on a real `xmpp-cert serve`: 1000 concurrent requests for a domain whose
 * endpoint is a TCP listener that accepts and never speaks (each probe holds its connection until
 * the timeout). Counted: connections the listener sees at once, the exporter's open file
 * descriptors (/proc/PID/fd), and the answers (200/503 for the admitted, 429 with Retry-After at
 * once for the rest). Also: targets that are not host names are refused before any DNS question
 * (a real DNS server on loopback counts the questions).
 */
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startDnsServer, type DnsServer } from '../helpers/dns-server';
import { startCli, waitFor, type Running } from '../helpers/process';

jest.setTimeout(60_000);

const CONCURRENCY = 8;
const QUEUE = 8 * CONCURRENCY;
const REQUESTS = 1000;

let slow: net.Server;
let open = 0;
let maxOpen = 0;
let dns: DnsServer;
let exporter: Running;

beforeAll(async () => {
  slow = net.createServer((socket) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    socket.on('close', () => open--);
    socket.on('error', () => undefined);
    socket.resume(); // read (and drop) what comes, so the peer's close is seen; never write
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  dns = await startDnsServer({});
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-probe-flood-'));
  const config = {
    prosody: { config: null },
    domains: ['slow.example'],
    scan: { interval: '1h' },
    probes: {
      enabled: false, // only /probe connects
      timeout: '2s',
      concurrency: CONCURRENCY,
      srv: true,
      dns: { servers: [dns.address] },
      allow: ['*.allowed.example'],
      endpoints: [{ domain: 'slow.example', host: '127.0.0.1', port: (slow.address() as AddressInfo).port, service: 'c2s', tls: 'direct' }],
    },
  };
  fs.writeFileSync(path.join(root, 'xmpp-cert.yml'), JSON.stringify(config));
  exporter = await startCli(['serve', '--config', path.join(root, 'xmpp-cert.yml'), '--listen', '127.0.0.1:0']);
});
afterAll(async () => {
  await exporter?.stop();
  slow?.close();
  await dns?.close();
});

const fds = () => fs.readdirSync(`/proc/${exporter.child.pid}/fd`).length;

function get(pathAndQuery: string): Promise<{ status: number; retryAfter?: string; at: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${exporter.url}${pathAndQuery}`, { agent: false, headers: { 'X-Prometheus-Scrape-Timeout-Seconds': '2' } }, (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode!, ...(res.headers['retry-after'] ? { retryAfter: res.headers['retry-after'] } : {}), at: Date.now() }),
        );
      })
      .on('error', reject);
  });
}

test('1000 concurrent /probe requests against a server that never answers: at most probes.concurrency connections, the rest refused at once', async () => {
  const baseline = fds();
  let maxFds = baseline;
  const sampler = setInterval(() => (maxFds = Math.max(maxFds, fds())), 10);
  const answers = await Promise.all(Array.from({ length: REQUESTS }, () => get('/probe?target=slow.example&module=c2s_tls')));
  clearInterval(sampler);

  const byStatus = (status: number) => answers.filter((a) => a.status === status);
  const refused = byStatus(429);
  const admitted = [...byStatus(200), ...byStatus(503)];
  expect(refused.length + admitted.length).toBe(REQUESTS);
  expect(admitted.length).toBeLessThanOrEqual(CONCURRENCY + QUEUE);
  expect(byStatus(200).length).toBeGreaterThanOrEqual(CONCURRENCY); // the first ones probed (and timed out) for real
  for (const r of refused) expect(r.retryAfter).toBe('2');
  // At once: every refusal was answered before the first probe gave up on the silent server.
  expect(Math.max(...refused.map((r) => r.at))).toBeLessThan(Math.min(...byStatus(200).map((r) => r.at)));
  // The listener never saw more than probes.concurrency connections at once (it was 1000 before).
  expect(maxOpen).toBeLessThanOrEqual(CONCURRENCY);
  // Descriptors: the incoming connections and probes.concurrency outbound ones, never one per request on top (2000 before).
  expect(maxFds - baseline).toBeLessThan(REQUESTS + CONCURRENCY + 50);
  // Nothing left behind.
  await waitFor(() => open === 0 && fds() <= baseline + 2, 10_000, 'connections to close');
});

test('targets that are not host names get 400 before any DNS question; a good allowed name is looked up', async () => {
  const asked = dns.queries.length;
  const bad = [
    'foo bar.allowed.example',
    `${'x'.repeat(64)}.allowed.example`,
    'a..allowed.example',
    '-x.allowed.example',
    'x_y.allowed.example',
    `${'a.'.repeat(127)}allowed.example`,
  ];
  for (const target of bad) {
    const res = await get(`/probe?target=${encodeURIComponent(target)}&module=c2s`);
    expect({ target, status: res.status }).toEqual({ target, status: 400 });
  }
  expect(dns.queries.slice(asked)).toEqual([]);
  // An IDN in Unicode is taken in its A-label form, allowed by the pattern, and looked up.
  expect((await get(`/probe?target=${encodeURIComponent('bücher.allowed.example')}&module=c2s`)).status).toBe(200);
  expect(dns.queries).toContain('_xmpp-client._tcp.xn--bcher-kva.allowed.example SRV');
});
