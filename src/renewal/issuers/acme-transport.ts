/**
 * The HTTP(S) transport under acme-client, one per issue() call: the issuer's trust (an https.Agent
 * with its `ca` files on top of the system roots), a timeout per request, no retries, and the last
 * failed answer kept so that a failure can be classified by status, problem type and Retry-After
 * (acme-client's own errors carry only the problem's detail text). It does not follow redirects.
 *
 * Why not acme-client's axios: acme-client 5.4 takes no agent or axios options per client, and
 * `acme.axios` is one shared instance, so an agent set there would leak between two issuers that
 * trust different CAs. And with its retries off, its response interceptor turns a refused
 * connection into "TypeError: Cannot read properties of undefined (reading 'config')", losing
 * ECONNREFUSED. acme-client sends every request through its HttpClient's `request(url, method,
 * opts)`; `attach` replaces that one method on one client. acme-client is pinned at 5.4.0 and the
 * Pebble tests exercise this seam.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Client } from 'acme-client';
import { VERSION } from '../../shared/version';
import { AcmeResponseError, type AcmeProblem } from '../failure';

export interface AcmeResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON for JSON answers, else the text (a PEM chain). */
  data: unknown;
}

interface FailedAnswer {
  status: number;
  problem: AcmeProblem | undefined;
  retryAfter: string | undefined;
}

const TIMEOUT_MS = 30_000;
/** A certificate chain is a few KiB; this only stops a broken server from filling memory. */
const MAX_BODY_BYTES = 1 << 20;
const USER_AGENT = `xmpp-cert-exporter/${VERSION} acme-client/5.4.0`;

/** The system roots plus the issuer's `ca` files; the default agent (node's trust) when there are none. */
export function createAgent(caFiles: readonly string[]): https.Agent {
  if (caFiles.length === 0) return new https.Agent({ keepAlive: true });
  const extra = caFiles.map((file) => fs.readFileSync(file, 'utf8'));
  // One SecureContext for every connection: given only `ca`, each connection builds its own
  // store of ~150 roots in native memory, which V8 does not see and frees only on a late GC
  // (the soak bench saw the worker's RSS double over 60 renewals).
  return new https.Agent({ keepAlive: true, secureContext: tls.createSecureContext({ ca: [...tls.rootCertificates, ...extra] }) });
}

export class AcmeTransport {
  private lastFailure: FailedAnswer | undefined;

  constructor(
    private readonly agent: https.Agent,
    private readonly timeoutMs = TIMEOUT_MS,
  ) {}

  /** Routes one acme-client Client's requests through this transport. */
  attach(client: Client): void {
    const inner = (client as unknown as { http?: { request?: unknown } }).http;
    if (!inner || typeof inner.request !== 'function') throw new Error('acme-client has no http.request to attach to (not version 5.4?)');
    // acme-client's request(), replaced here, set this header: every ACME POST is a JWS (RFC 8555 6.2).
    inner.request = (url: string, method: string, opts: { data?: unknown } = {}) =>
      this.request(url, method, opts.data, opts.data === undefined ? {} : { 'Content-Type': 'application/jose+json' });
  }

  /** Runs one acme-client call; when it failed on an error answer, the error carries that answer. */
  async call<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      throw this.explain(err);
    }
  }

  explain(err: unknown): unknown {
    const failed = this.lastFailure;
    if (!failed || (err as { code?: unknown } | null)?.code !== undefined) return err;
    return new AcmeResponseError((err as Error)?.message ?? String(err), failed.status, failed.problem, failed.retryAfter, { cause: err });
  }

  async request(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<AcmeResponse> {
    this.lastFailure = undefined;
    const response = await this.send(new URL(url), method.toUpperCase(), body, headers);
    if (response.status >= 400) {
      const problem = response.data && typeof response.data === 'object' ? (response.data as AcmeProblem) : undefined;
      const retryAfter = response.headers['retry-after'];
      this.lastFailure = { status: response.status, problem, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined };
    }
    return response;
  }

  private send(target: URL, method: string, body: unknown, headers: Record<string, string>): Promise<AcmeResponse> {
    const payload = body === undefined || body === null ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const secure = target.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(target, {
        method,
        agent: secure ? this.agent : undefined,
        timeout: this.timeoutMs,
        headers: { 'User-Agent': USER_AGENT, ...headers, ...(payload ? { 'Content-Length': String(payload.length) } : {}) },
      });
      req.on('response', (res) => void readBody(req, res).then(resolve, reject));
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from ${target.host} within ${this.timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function readBody(req: http.ClientRequest, res: http.IncomingMessage): Promise<AcmeResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error(`the ACME server sent more than ${MAX_BODY_BYTES} bytes`));
      else chunks.push(chunk);
    });
    res.on('error', reject);
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ status: res.statusCode ?? 0, headers: res.headers, data: parseBody(text, res.headers['content-type']) });
    });
  });
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (!/json/i.test(contentType ?? '')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
