/**
 * A local HTTP receiver for webhook tests: records every request (path, headers, JSON body) and
 * answers with the statuses it is told, in order, then 200. Loopback only; the port is picked by
 * the OS.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  /** The status it was answered with. */
  status: number;
}

export interface WebhookCapture {
  url: (path: string) => string;
  readonly received: ReceivedHook[];
  /** Statuses for the next requests, in order; afterwards 200. */
  answer(...statuses: number[]): void;
  stop(): Promise<void>;
}

export async function startWebhookCapture(): Promise<WebhookCapture> {
  const received: ReceivedHook[] = [];
  const queue: number[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const status = queue.shift() ?? 200;
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text
      }
      received.push({ path: req.url ?? '', headers: req.headers, body, status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : `failure ${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    answer: (...statuses) => queue.push(...statuses),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
