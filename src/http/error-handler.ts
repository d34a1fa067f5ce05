/**
 * The app's last two answers. `methodNotAllowed`: a known path asked with a method it does not
 * serve gets 405 with `Allow`. `errorHandler`: whatever a handler throws, the client gets a plain
 * "500 Internal Server Error" (or the 4xx the error carries, such as a malformed request), never a
 * stack trace or message, whatever NODE_ENV says (express's own handler shows stacks outside
 * production). The error is logged, at most once per ten seconds with a count of the ones not
 * logged, so a client cannot flood the log either.
 */
import http from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../shared/log';

const ALLOWED = 'GET, HEAD';

/** 405 for `paths` asked with anything but GET or HEAD (they reach here only then), matched as express routes match: any case, a trailing slash. */
export function methodNotAllowed(paths: readonly string[]): RequestHandler {
  const known = new Set(paths);
  return (req, res, next) => {
    if (!known.has(req.path.toLowerCase().replace(/(.)\/$/, '$1'))) return next();
    res.setHeader('Allow', ALLOWED);
    res.status(405).type('text/plain').send(`${req.method} is not allowed on ${req.path}; use GET\n`);
  };
}

const LOG_EVERY_MS = 10_000;

export function errorHandler(log: Logger): ErrorRequestHandler {
  let lastLogged = 0;
  let unlogged = 0;
  return (err: unknown, req, res, _next) => {
    const status = clientErrorStatus(err) ?? 500;
    if (status === 500) {
      const now = Date.now();
      if (now - lastLogged >= LOG_EVERY_MS) {
        log.error({ err, path: req.path, method: req.method, ...(unlogged ? { notLogged: unlogged } : {}) }, 'request failed; answered 500');
        lastLogged = now;
        unlogged = 0;
      } else unlogged++;
    }
    // Headers already out (a body in mid-stream): the only honest answer left is to cut it short.
    if (res.headersSent) return void req.socket.destroy();
    res
      .status(status)
      .type('text/plain')
      .send(`${http.STATUS_CODES[status] ?? 'Error'}\n`);
  };
}

/** The 4xx an error says the client caused (body-parser, router), if any. */
function clientErrorStatus(err: unknown): number | undefined {
  const status = (err as { status?: unknown; statusCode?: unknown } | null)?.status ?? (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}
