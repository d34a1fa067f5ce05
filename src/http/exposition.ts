/**
 * Answers a scrape as the client asks, as Prometheus' own client libraries do: OpenMetrics 1.0
 * when `Accept` prefers application/openmetrics-text (Prometheus asks for it first), the text
 * format 0.0.4 otherwise (curl, browsers, older scrapers); gzip when `Accept-Encoding` allows it
 * (Prometheus always sends `gzip`), else plain. Negotiation is express's (the `negotiator` package:
 * q-values, wildcards, parameters). The body goes out chunk by chunk as the client reads it.
 * It renders nothing itself: the metrics layer hands over the bytes.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { CONTENT_TYPES, type ExpositionFormat } from '../metrics';

/** What we offer, in our order of preference when the client likes several equally (`*\/*`). */
const OFFERS: Array<[string, ExpositionFormat]> = [
  ['text/plain; version=0.0.4', 'text'],
  ['application/openmetrics-text; version=1.0.0', 'openmetrics'],
  // Prometheus 2.x also lists the draft version 0.0.1 (q=0.75); its syntax is the same.
  ['application/openmetrics-text; version=0.0.1', 'openmetrics'],
];

export function negotiateFormat(req: Request): ExpositionFormat {
  if (!req.headers.accept) return 'text';
  const chosen = req.accepts(OFFERS.map(([type]) => type));
  return OFFERS.find(([type]) => type === chosen)?.[1] ?? 'text';
}

export function acceptsGzip(req: Request): boolean {
  return req.acceptsEncodings('gzip', 'identity') === 'gzip';
}

export type Expose = (format: ExpositionFormat, encoding: 'identity' | 'gzip') => Promise<Buffer[]>;

export async function sendExposition(req: Request, res: Response, expose: Expose): Promise<void> {
  const format = negotiateFormat(req);
  const gzip = acceptsGzip(req);
  const chunks = await expose(format, gzip ? 'gzip' : 'identity');
  res.setHeader('Content-Type', CONTENT_TYPES[format]);
  res.setHeader('Vary', 'Accept, Accept-Encoding');
  if (gzip) res.setHeader('Content-Encoding', 'gzip');
  res.setHeader(
    'Content-Length',
    chunks.reduce((n, c) => n + c.length, 0),
  );
  // Chunk by chunk as the client reads (backpressure): 50 scrapers of 20 MB each queued
  // whole at once starved some connections for 25 s (bench:load p99).
  // A scraper that hangs up mid-body (its timeout) is not the exporter's error.
  await pipeline(Readable.from(chunks), res).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  });
}
