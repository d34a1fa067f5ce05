/**
 * Typed errors. One base class; subclasses carry the context a user needs (file, key, domain)
 * and wrap third-party errors with `{ cause }`. Data-level failures (a bad certificate file, a
 * refused connection) are NOT thrown: they travel as values with a reason code.
 */
import { censorUrls } from './secrets';

export class XmppCertError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A config value or file that cannot be used. Never quotes a URL's user info, path or query (they may hold a token). */
export class ConfigError extends XmppCertError {
  readonly issues: readonly string[];
  constructor(message: string, issues: readonly string[] = [message], options?: { cause?: unknown }) {
    super(censorUrls(message), options);
    this.issues = issues.map(censorUrls);
  }
}

/** Reading prosody.cfg.lua (or an Included file) failed. */
export class DiscoveryError extends XmppCertError {
  constructor(
    message: string,
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type RefusedKind = 'fifo' | 'socket' | 'device' | 'directory' | 'special';

/** A file refused before reading (shared/safe-read.ts): not a regular file, or over its size limit. */
export class RefusedFileError extends XmppCertError {
  constructor(
    message: string,
    readonly file: string,
    readonly kind: RefusedKind | 'too_large',
  ) {
    super(message);
  }
}

/** A web-config.yml (exporter-toolkit format) that cannot be used. Never quotes a URL's user info, path or query. */
export class WebConfigError extends XmppCertError {
  constructor(
    message: string,
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(censorUrls(message), options);
  }
}

/** Minting or writing a certificate failed. */
export class IssueError extends XmppCertError {
  constructor(
    message: string,
    readonly domain: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A renewal step failed. `reason` is one of state/failure-reasons.ts (kept as a string here so
 * shared/ imports nothing above it); `retryAfter` (Unix seconds) is the earliest next attempt a CA
 * asked for; `challenge` names the challenge type of a failed validation.
 */
export class RenewalError extends XmppCertError {
  constructor(
    message: string,
    readonly reason: string,
    readonly domain: string,
    readonly details: { retryAfter?: number; challenge?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Text for any thrown value, without a stack. Duck-typed: errors from another realm (jest's vm) fail `instanceof Error`. */
export function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}
