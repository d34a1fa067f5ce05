/**
 * What an unauthenticated caller can do to the app, served on a real loopback socket: user names
 * that are Object.prototype's properties, wrong methods, handlers that throw (with NODE_ENV set to
 * development, where express would print a stack), a flood of distinct wrong passwords while an
 * authorised client scrapes, checks beyond the checker's queue, and bcrypt costs above the maximum.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import express from 'express';
import { loadConfig } from '../../src/config';
import { createApp } from '../../src/http/app';
import { BasicAuthGate } from '../../src/http/basic-auth';
import { BcryptPool } from '../../src/http/bcrypt-pool';
import { BoundedQueue } from '../../src/http/bounded-queue';
import { loadWebConfig, MAX_BCRYPT_COST, type WebConfig } from '../../src/http/web-config';
import { createMetrics } from '../../src/metrics';
import { createLogger } from '../../src/shared/log';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-attacks-'));
const config = loadConfig({ file: writeFile('c.yml', 'prosody:\n  config: null\nprobes:\n  enabled: false\n'), env: {} }).config;
let logText = '';
const log = createLogger('info', new Writable({ write: (c: Buffer, _e, done) => ((logText += c.toString()), done()) }));

function writeFile(name: string, text: string): string {
  const file = path.join(root, name);
  fs.writeFileSync(file, text);
  return file;
}

/** Every request on its own connection (as 50 attackers would), from `from` (any 127.x address). */
function send(
  url: string,
  options: { method?: string; auth?: string; from?: string } = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders; at: number }> {
  return new Promise((resolve, reject) => {
    const headers = options.auth ? { authorization: `Basic ${Buffer.from(options.auth).toString('base64')}` } : {};
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers, agent: false, ...(options.from ? { localAddress: options.from } : {}) },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers, at: Date.now() }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function listen(app: express.Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

const previousEnv = process.env.NODE_ENV;
let web: WebConfig | undefined;
let failing: Error | undefined;
const metrics = createMetrics(
  () => undefined,
  () => path.join(root, 'state'),
);
let server: Awaited<ReturnType<typeof listen>>;
beforeAll(async () => {
  process.env.NODE_ENV = 'development'; // where express's own error handler would print stacks
  const expose = metrics.expose.bind(metrics);
  metrics.expose = () => (failing ? Promise.reject(failing) : expose());
  server = await listen(createApp({ metrics, getReport: () => undefined, getConfig: () => config, log, getWebConfig: () => web }));
});
afterAll(async () => {
  process.env.NODE_ENV = previousEnv;
  await server.close();
});

describe('user names that are properties of every object', () => {
  const NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
  beforeAll(() => {
    const hash = bcrypt.hashSync('right', 4);
    web = loadWebConfig(writeFile('proto-users.yml', `basic_auth_users:\n  prometheus: ${hash}\n`));
  });
  afterAll(() => (web = undefined));

  test.each(NAMES)('%s, not configured: 401, no stack', async (user) => {
    for (const password of ['', 'right', 'x']) {
      const res = await send(`${server.url}/metrics`, { auth: `${user}:${password}` });
      expect({ user, status: res.status, body: res.body }).toEqual({ user, status: 401, body: 'Unauthorized\n' });
    }
  });

  test('configured as users, they are ordinary names', async () => {
    const lines = NAMES.map((n, i) => `  ${JSON.stringify(n)}: ${bcrypt.hashSync(`pw-${i}`, 4)}`).join('\n');
    web = loadWebConfig(writeFile('proto-users-2.yml', `basic_auth_users:\n${lines}\n`));
    expect([...web.users!.keys()]).toEqual(NAMES);
    for (const [i, user] of NAMES.entries()) {
      expect((await send(`${server.url}/healthz`, { auth: `${user}:pw-${i}` })).status).toBe(200);
      expect((await send(`${server.url}/healthz`, { auth: `${user}:pw-${(i + 1) % NAMES.length}` })).status).toBe(401);
    }
  });
});

describe('no stack trace reaches a client', () => {
  test('a handler that fails: a plain 500, logged once per ten seconds with a count', async () => {
    failing = new Error('SECRET-INTERNAL-DETAIL at /some/file.ts:12');
    logText = '';
    try {
      const answers = await Promise.all(Array.from({ length: 5 }, () => send(`${server.url}/metrics`)));
      for (const res of answers)
        expect({ status: res.status, body: res.body, type: res.headers['content-type'] }).toEqual({
          status: 500,
          body: 'Internal Server Error\n',
          type: 'text/plain; charset=utf-8',
        });
    } finally {
      failing = undefined;
    }
    const lines = logText.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('request failed; answered 500');
    expect((await send(`${server.url}/metrics`)).status).toBe(200);
  });

  test('a malformed URL gets a plain 4xx', async () => {
    for (const target of ['/%', '/metrics%zz', '/probe?target=%E0%A4%A']) {
      const res = await send(`${server.url}${target}`);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.body).not.toMatch(/at .*\.(js|ts):\d+|<pre>/);
    }
  });
});

describe('methods', () => {
  test.each([
    ['POST', '/metrics'],
    ['PUT', '/'],
    ['DELETE', '/probe'],
    ['OPTIONS', '/status'],
    ['PATCH', '/healthz'],
    ['POST', '/READYZ/'],
  ])('%s %s: 405 with Allow', async (method, target) => {
    const res = await send(`${server.url}${target}`, { method });
    expect({ status: res.status, allow: res.headers.allow }).toEqual({ status: 405, allow: 'GET, HEAD' });
  });

  test('a configured telemetry path is a known path too: 405 there, and /metrics is then unknown (404)', async () => {
    const custom = await listen(
      createApp({ metrics, getReport: () => undefined, getConfig: () => config, log, getWebConfig: () => undefined, telemetryPath: '/prometheus/metrics' }),
    );
    try {
      expect((await send(`${custom.url}/prometheus/metrics`, { method: 'POST' })).status).toBe(405);
      expect((await send(`${custom.url}/prometheus/metrics`)).status).toBe(200);
      expect((await send(`${custom.url}/metrics`, { method: 'POST' })).status).toBe(404);
    } finally {
      await custom.close();
    }
  });

  test('HEAD is served, an unknown path is 404 whatever the method', async () => {
    expect((await send(`${server.url}/metrics`, { method: 'HEAD' })).status).toBe(200);
    expect((await send(`${server.url}/nope`, { method: 'POST' })).status).toBe(404);
  });

  test('with basic auth, a wrong method without credentials is 401 first: nothing answers without them', async () => {
    web = loadWebConfig(writeFile('auth-405.yml', `basic_auth_users:\n  prometheus: ${bcrypt.hashSync('right', 4)}\n`));
    try {
      expect((await send(`${server.url}/metrics`, { method: 'POST' })).status).toBe(401);
      expect((await send(`${server.url}/nope`)).status).toBe(401);
      expect((await send(`${server.url}/metrics`, { method: 'POST', auth: 'prometheus:right' })).status).toBe(405);
    } finally {
      web = undefined;
    }
  });
});

describe('bcrypt runs off the event loop', () => {
  test('50 distinct wrong passwords at once: a known-good scrape is answered before most of their checks are done', async () => {
    web = loadWebConfig(writeFile('flood.yml', `basic_auth_users:\n  prometheus: ${bcrypt.hashSync('right', 8)}\n`));
    try {
      expect((await send(`${server.url}/metrics`, { auth: 'prometheus:right' })).status).toBe(200); // checked once, now cached
      let answered = 0;
      const flood = Array.from({ length: 50 }, (_, i) => send(`${server.url}/metrics`, { auth: `prometheus:wrong-${i}` }).finally(() => answered++));
      await new Promise((r) => setTimeout(r, 20)); // the flood has arrived
      const scrape = await send(`${server.url}/metrics`, { auth: 'prometheus:right' });
      const pendingThen = 50 - answered;
      const statuses = (await Promise.all(flood)).map((r) => r.status);
      expect(scrape.status).toBe(200);
      // Inline bcrypt (~15 ms each at cost 8) answered this scrape only after every check queued before it.
      expect(pendingThen).toBeGreaterThan(25);
      expect(new Set(statuses)).toEqual(new Set([401]));
    } finally {
      web = undefined;
    }
  });

  test('beyond the checker queue: 429 (this address) or 503 (everyone) at once, with Retry-After', async () => {
    const users = loadWebConfig(writeFile('small.yml', `basic_auth_users:\n  prometheus: ${bcrypt.hashSync('right', 10)}\n`)).users!;
    const appWith = (pool: BcryptPool) => {
      const app = express();
      app.use(new BasicAuthGate(log, pool).handler(() => users));
      app.get('/', (_req, res) => void res.send('ok'));
      return listen(app);
    };
    for (const [limits, refusal] of [
      [{ concurrency: 1, queue: 4, perKey: 2 }, 429],
      [{ concurrency: 1, queue: 2 }, 503],
    ] as const) {
      const small = await appWith(new BcryptPool(limits));
      try {
        const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => send(small.url, { auth: `prometheus:wrong-${i}` })));
        const checked = answers.filter((a) => a.status === 401);
        const refused = answers.filter((a) => a.status === refusal);
        // One running and `perKey` (or the whole queue) waiting get a verdict; the rest are refused.
        expect(checked).toHaveLength(1 + Math.min(limits.queue, 'perKey' in limits ? limits.perKey : limits.queue));
        expect(refused).toHaveLength(12 - checked.length);
        for (const r of refused) expect(r.headers['retry-after']).toBe('1');
        // At once: every refusal came before the first verdict (each check takes ~55 ms).
        expect(Math.max(...refused.map((r) => r.at))).toBeLessThanOrEqual(Math.min(...checked.map((r) => r.at)));
      } finally {
        await small.close();
      }
    }
  });
});

describe('BoundedQueue', () => {
  const taken = <T>(submitted: Promise<T> | string): Promise<T> => {
    if (typeof submitted === 'string') throw new Error(`refused: ${submitted}`);
    return submitted;
  };
  const gate = () => {
    let open!: () => void;
    return { promise: new Promise<void>((r) => (open = r)), open: () => open() };
  };

  test('waiting tasks are taken round-robin across keys: a second client waits for one task of the first, not its backlog', async () => {
    const queue = new BoundedQueue({ concurrency: 1, queue: 100 });
    const order: string[] = [];
    const first = gate();
    const tasks = [taken(queue.submit('a', () => (order.push('a0'), first.promise)))];
    for (let i = 1; i <= 10; i++) tasks.push(taken(queue.submit('a', async () => void order.push(`a${i}`))));
    tasks.push(taken(queue.submit('b', async () => void order.push('b0'))));
    first.open();
    await Promise.all(tasks);
    expect(order.indexOf('b0')).toBeLessThanOrEqual(2);
  });

  test('limits: the whole queue, one key share of it; an abandoned task is dropped unrun', async () => {
    const queue = new BoundedQueue({ concurrency: 1, queue: 3, perKey: 2 });
    const first = gate();
    const ran: string[] = [];
    const running = taken(queue.submit('a', () => first.promise));
    const waiting = [taken(queue.submit('a', async () => void ran.push('a1'))), taken(queue.submit('a', async () => void ran.push('a2')))];
    expect(queue.submit('a', async () => undefined)).toBe('key_full');
    let gone = false;
    const abandoned = queue.submit(
      'b',
      async () => void ran.push('b1'),
      () => gone,
    );
    expect(queue.submit('c', async () => undefined)).toBe('queue_full');
    expect(queue.load).toEqual({ running: 1, waiting: 3 });
    gone = true;
    first.open();
    await Promise.all([running, ...waiting]);
    await expect(abandoned).rejects.toThrow('went away');
    expect(ran).toEqual(['a1', 'a2']);
  });
});

describe('bcrypt cost', () => {
  test.each([
    [MAX_BCRYPT_COST + 1, /basic_auth_users\.prometheus: bcrypt cost 13 is above the maximum of 12/],
    [3, /bcrypt cost 3 is below bcrypt's minimum of 4/],
  ])('cost %d is refused when web-config.yml is loaded, naming the user', (cost, message) => {
    // A well-formed hash of that cost (computing one at cost 13 would take half a second).
    const hash = bcrypt.hashSync('x', 4).replace('$04$', `$${String(cost).padStart(2, '0')}$`);
    expect(() => loadWebConfig(writeFile(`cost-${cost}.yml`, `basic_auth_users:\n  prometheus: ${hash}\n`))).toThrow(message);
  });

  test("the maximum itself, and htpasswd's $2y$ spelling, are accepted and verify", async () => {
    const hash = bcrypt.hashSync('right', MAX_BCRYPT_COST).replace(/^\$2b\$/, '$2y$');
    web = loadWebConfig(writeFile('cost-max.yml', `basic_auth_users:\n  prometheus: ${hash}\n`));
    try {
      expect((await send(`${server.url}/healthz`, { auth: 'prometheus:right' })).status).toBe(200);
      expect((await send(`${server.url}/healthz`, { auth: 'prometheus:wrong' })).status).toBe(401);
    } finally {
      web = undefined;
    }
  });
});
