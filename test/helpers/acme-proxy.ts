/**
 * A recording, fault-injecting HTTPS proxy in front of Pebble, for what a real Pebble cannot do on
 * demand: answer 429 with Retry-After, show what a new-order carried (Pebble 2.4 accepts and ignores
 * unknown fields such as `profile` and `replaces`), offer ARI (Pebble 2.4 has no renewalInfo) and
 * offer profiles in the directory's meta.profiles (Pebble 2.4 has none: this is the stand-in for a
 * CA that has them, such as Let's Encrypt).
 * It terminates TLS with Pebble's listener certificate (clients trust it with the same caFile) and
 * forwards with the Host header kept: Pebble builds its URLs from Host, so every URL it hands out
 * points back at the proxy.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RunningPebble } from './pebble';

export interface Seen {
  method: string;
  path: string;
  /** The decoded JWS payload of a POST (null for POST-as-GET). */
  payload?: unknown;
}

export interface ProxyAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface AcmeProxyOptions {
  /** Answer instead of Pebble when this returns something. */
  fault?: (seen: Seen) => ProxyAnswer | undefined;
  /** Answers GET /renewal-info/<certID>; when set, the directory advertises renewalInfo. */
  renewalInfo?: (certId: string) => ProxyAnswer;
  /** Added to the directory as meta.profiles (name -> description). */
  profiles?: Record<string, string>;
}

export interface AcmeProxy {
  directoryUrl: string;
  seen: Seen[];
  stop(): Promise<void>;
}

export async function startAcmeProxy(pebble: RunningPebble, options: AcmeProxyOptions = {}): Promise<AcmeProxy> {
  const target = new URL(pebble.directoryUrl);
  const ca = fs.readFileSync(pebble.caFile);
  const seen: Seen[] = [];
  const server = https.createServer({ cert: ca, key: fs.readFileSync(pebble.keyFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const entry: Seen = { method: req.method ?? '', path: req.url ?? '', payload: decodePayload(body) };
      seen.push(entry);
      const answer = options.fault?.(entry) ?? renewalInfoAnswer(entry, options);
      if (answer) return send(res, answer);
      forward(req, body, target, ca, res, entry.path === target.pathname ? options : {});
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    directoryUrl: `https://127.0.0.1:${port}${target.pathname}`,
    seen,
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function renewalInfoAnswer(entry: Seen, options: AcmeProxyOptions): ProxyAnswer | undefined {
  const match = /^\/renewal-info\/([^/?]+)$/.exec(entry.path);
  return match && options.renewalInfo && entry.method === 'GET' ? options.renewalInfo(match[1]!) : undefined;
}

/** `directory`: the options that change the directory, when this request is for it. */
function forward(req: http.IncomingMessage, body: Buffer, target: URL, ca: Buffer, res: http.ServerResponse, directory: AcmeProxyOptions): void {
  const upstream = https.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers, ca }, (up) => {
    if (!directory.renewalInfo && !directory.profiles) {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
      return;
    }
    let text = '';
    up.on('data', (d: Buffer) => (text += d.toString()));
    up.on('end', () => {
      const document = JSON.parse(text) as Record<string, unknown>;
      if (directory.renewalInfo) document.renewalInfo = `https://${req.headers.host}/renewal-info`;
      if (directory.profiles) document.meta = { ...(document.meta as object), profiles: directory.profiles };
      send(res, { status: up.statusCode ?? 200, body: document });
    });
  });
  upstream.on('error', (err) => send(res, { status: 502, body: { detail: err.message } }));
  upstream.end(body);
}

function send(res: http.ServerResponse, answer: ProxyAnswer): void {
  const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
  res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
  res.end(text);
}

function decodePayload(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    const jws = JSON.parse(body.toString()) as { payload?: string };
    return jws.payload ? (JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as unknown) : null;
  } catch {
    return undefined;
  }
}
