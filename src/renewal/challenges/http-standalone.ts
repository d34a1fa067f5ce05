/**
 * The http-01 standalone responder: a tiny node:http server on the configured address that answers
 * `GET /.well-known/acme-challenge/<token>` with the key authorization of a token currently
 * registered, and 404 (text/plain) to anything else. It listens only while tokens are registered:
 * from the first add() of an order to the last remove(), shared by orders that overlap. It serves
 * nothing but challenges, and no HTTPS.
 */
import http from 'node:http';
import { RenewalError, messageOf } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import type { ChallengeResponder } from './responder';
import { isToken } from './token';

const PREFIX = '/.well-known/acme-challenge/';

export function createStandaloneResponder(listen: { host: string; port: number }, log: Logger): ChallengeResponder {
  const tokens = new Map<string, string>();
  const address = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host || '*'}:${listen.port}`;
  let server: Promise<http.Server> | undefined;
  let closing: Promise<void> = Promise.resolve();

  const answer = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const token = req.method === 'GET' && req.url?.startsWith(PREFIX) ? req.url.slice(PREFIX.length) : '';
    const keyAuthorization = tokens.get(token);
    log.debug({ path: req.url, found: keyAuthorization !== undefined }, 'http-01 request');
    res.writeHead(keyAuthorization === undefined ? 404 : 200, { 'Content-Type': 'text/plain' });
    res.end(keyAuthorization ?? 'not found\n');
  };

  const stop = async () => {
    const running = server;
    server = undefined;
    if (running) closing = running.then(close, () => undefined);
    await closing;
  };

  return {
    type: 'http-01',
    async add(domain, token, keyAuthorization) {
      if (!isToken(token)) throw new RenewalError(`the CA sent an unusable http-01 token for ${domain}`, 'challenge_setup', domain);
      tokens.set(token, keyAuthorization);
      // Wait for a close in progress, so the new server does not race the old one for the port.
      server ??= closing.then(() => start(listen, answer, address, domain));
      try {
        await server;
      } catch (err) {
        tokens.delete(token);
        server = undefined;
        throw err;
      }
    },
    async ready() {},
    async remove(_domain, token) {
      tokens.delete(token);
      if (tokens.size === 0) await stop();
    },
    async close() {
      tokens.clear();
      await stop();
    },
  };
}

function start(listen: { host: string; port: number }, answer: http.RequestListener, address: string, domain: string): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(answer);
    const failed = (err: NodeJS.ErrnoException) => reject(listenError(err, address, domain));
    server.once('error', failed);
    server.listen(listen.port, listen.host || undefined, () => {
      server.off('error', failed);
      resolve(server);
    });
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // The CA's validators may keep connections open; they must not hold the port.
    server.closeAllConnections();
  });
}

function listenError(err: NodeJS.ErrnoException, address: string, domain: string): RenewalError {
  const what = `cannot listen on ${address} for http-01 challenges (${err.code ?? messageOf(err)})`;
  const fix =
    err.code === 'EACCES'
      ? 'run as root, give the process CAP_NET_BIND_SERVICE, or use {type: http-01, webroot: DIR}'
      : err.code === 'EADDRINUSE'
        ? 'another program (a web server?) holds the port: stop it, or use {type: http-01, webroot: DIR} served by that web server'
        : 'check challenge.listen';
  return new RenewalError(`${what}; ${fix}`, 'challenge_setup', domain, { challenge: 'http-01' }, { cause: err });
}
