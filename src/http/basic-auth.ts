/**
 * Basic auth for every path, as exporter-toolkit does it: users and bcrypt hashes from
 * web-config.yml, a verdict cache keyed by a SHA-256 of (user, hash, password), and a check of a
 * fixed dummy hash for unknown users so timing does not tell who exists. Unlike a check inline,
 * bcrypt runs on http/bcrypt-pool.ts's threads: a request waits only for its own check, and a
 * scrape whose credentials were checked before answers from the cache without waiting at all.
 * Known-good verdicts are kept apart from failures, so a flood of wrong passwords can evict only
 * other failures. When the checker's queue is full the request gets 503 (429 when the queue is
 * full of this client's checks) at once, with Retry-After.
 */
import crypto from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../shared/log';
import { AbandonedError } from './bounded-queue';
import { BcryptPool } from './bcrypt-pool';

/** Bounded so a flood cannot grow memory; known-good verdicts are few (one per user and password). */
const MAX_GOOD = 1_000;
const MAX_BAD = 10_000;

/** A Map used as a bounded cache: the oldest entry goes first. */
function remember(map: Map<string, true>, key: string, max: number): void {
  map.delete(key);
  map.set(key, true);
  if (map.size > max) map.delete(map.keys().next().value!);
}

/** A well-formed hash of the users' cost that no password matches, for unknown users. */
const dummies = new WeakMap<ReadonlyMap<string, string>, string>();
function dummyHash(users: ReadonlyMap<string, string>): string {
  let dummy = dummies.get(users);
  if (!dummy) {
    const cost = /^\$2.\$(\d\d)\$/.exec(users.values().next().value ?? '')?.[1] ?? '10';
    dummy = `$2b$${cost}$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ`;
    dummies.set(users, dummy);
  }
  return dummy;
}

function credentials(header: string | undefined): [string, string] | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

export class BasicAuthGate {
  private readonly good = new Map<string, true>();
  private readonly bad = new Map<string, true>();
  /** Checks in progress, so the same credentials sent many times at once cost one check. */
  private readonly checking = new Map<string, Promise<boolean>>();

  constructor(
    private readonly log: Logger,
    private readonly pool = new BcryptPool(),
  ) {}

  /** The middleware; `users()` is read per request, so a reload of web-config.yml applies at once. */
  handler(users: () => ReadonlyMap<string, string> | undefined): RequestHandler {
    return (req, res, next) => {
      const map = users();
      if (!map) return next();
      const given = credentials(req.headers.authorization);
      if (!given) return challenge(res);
      void this.verdict(map, given, req).then(
        (ok) => (ok ? next() : challenge(res)),
        (err: unknown) => this.failed(err, res, next),
      );
    };
  }

  /** true: let it through. Answers from the cache when it can; otherwise waits for its check. */
  private async verdict(users: ReadonlyMap<string, string>, [user, password]: [string, string], req: Request): Promise<boolean> {
    const hash = users.get(user);
    const target = hash ?? dummyHash(users);
    const key = crypto.createHash('sha256').update(user).update('\0').update(target).update('\0').update(password).digest('hex');
    if (this.good.has(key)) return hash !== undefined;
    if (this.bad.has(key)) return false;
    const ok = (await this.check(key, password, target, req)) && hash !== undefined;
    remember(ok ? this.good : this.bad, key, ok ? MAX_GOOD : MAX_BAD);
    return ok;
  }

  /** One bcrypt check per key at a time; a request that joined a check whose first asker hung up asks again. */
  private async check(key: string, password: string, target: string, req: Request): Promise<boolean> {
    for (;;) {
      let check = this.checking.get(key);
      if (!check) {
        const submitted = this.pool.compare(req.socket.remoteAddress ?? '', password, target, () => req.socket.destroyed);
        if (typeof submitted === 'string') throw new Busy(submitted === 'key_full' ? 429 : 503);
        check = submitted.finally(() => this.checking.delete(key));
        this.checking.set(key, check);
      }
      try {
        return await check;
      } catch (err) {
        if (!(err instanceof AbandonedError) || req.socket.destroyed) throw err;
      }
    }
  }

  private failed(err: unknown, res: Response, next: NextFunction): void {
    if (err instanceof AbandonedError) return; // the client hung up while waiting: nobody to answer
    if (err instanceof Busy) {
      res.setHeader('Retry-After', '1');
      return void res
        .status(err.status)
        .type('text/plain')
        .send(err.status === 429 ? 'Too many credential checks from this address; retry later\n' : 'Too many credential checks in progress; retry later\n');
    }
    this.log.error({ err }, 'a credential check failed; answering 503');
    if (!res.headersSent) return void res.status(503).setHeader('Retry-After', '1').type('text/plain').send('Cannot check credentials now; retry later\n');
    next(err);
  }
}

class Busy extends Error {
  constructor(readonly status: 429 | 503) {
    super('the credential checker is busy');
  }
}

function challenge(res: Response): void {
  res.setHeader('WWW-Authenticate', 'Basic realm="xmpp-cert-exporter"');
  res.status(401).type('text/plain').send('Unauthorized\n');
}
