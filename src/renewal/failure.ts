/**
 * Why an ACME step failed, as one reason of FAILURE_REASONS: reads socket errors (node codes), answers
 * from the CA (HTTP status, RFC 8555 problem document, Retry-After), axios-shaped errors and failed
 * challenges, and returns a RenewalError whose message names the domain and says what happens or
 * what to do next. Messages carry the CA's problem detail and node's error text, never keys, EAB
 * secrets or request bodies. It does not retry, log or decide when the next attempt runs.
 */
import { RenewalError, XmppCertError, messageOf } from '../shared/errors';
import type { FailureReason } from '../state/failure-reasons';

/** An RFC 8555 / RFC 7807 problem document, as far as we read it. */
export interface AcmeProblem {
  type?: string;
  detail?: string;
  status?: number;
  identifier?: { type: string; value: string };
  subproblems?: AcmeProblem[];
}

/** An HTTP answer from the CA that ended a step (status >= 400), with its problem and Retry-After. */
export class AcmeResponseError extends XmppCertError {
  constructor(
    message: string,
    readonly status: number,
    readonly problem: AcmeProblem | undefined,
    readonly retryAfterHeader: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A challenge the CA marked invalid: the name (as ordered, `*.` kept), the challenge type, the CA's problem. */
export class ChallengeFailedError extends XmppCertError {
  constructor(
    readonly domain: string,
    readonly challenge: string,
    readonly problem: AcmeProblem | undefined,
  ) {
    super(`${challenge} validation of ${domain} failed: ${problem?.detail ?? problem?.type ?? 'no detail from the CA'}`);
  }
}

/** The order became invalid with no failed challenge to blame (or after finalize). */
export class OrderInvalidError extends XmppCertError {
  constructor(readonly problem: AcmeProblem | undefined) {
    super(`the order became invalid: ${problem?.detail ?? problem?.type ?? 'no detail from the CA'}`);
  }
}

const ACME_ERROR = 'urn:ietf:params:acme:error:';

/** Problem types about the CA reaching the domain: a validation failure wherever they appear. */
const VALIDATION_TYPES = ['connection', 'dns', 'incorrectResponse', 'tls', 'caa'];
const UNAUTHORIZED_TYPES = ['unauthorized', 'accountDoesNotExist', 'externalAccountRequired', 'rejectedIdentifier', 'userActionRequired'];

const CONNECTION_CODES = ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EPROTO', 'ECONNABORTED'];
const DNS_CODES = ['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA'];
const TIMEOUT_CODES = ['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ERR_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT'];

/** What we could read from an error and its causes. */
interface Seen {
  status?: number;
  problem?: AcmeProblem;
  retryAfterHeader?: string;
  code?: string;
  timeoutName?: boolean;
}

/** Retry-After (seconds, or an HTTP date) as Unix seconds; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, nowMs = Date.now()): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Math.floor(nowMs / 1000) + Number(value);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.floor(date / 1000) : undefined;
}

export function classifyFailure(err: unknown, domain: string, nowMs = Date.now()): RenewalError {
  if (err instanceof RenewalError) return err;
  if (err instanceof ChallengeFailedError) return validation(err.domain, err.challenge, err.problem, err);
  const seen = look(err);
  const type = problemType(seen.problem);
  const retryAfter = parseRetryAfter(seen.retryAfterHeader, nowMs);
  const fail = (reason: FailureReason, message: string, details: { retryAfter?: number } = {}) =>
    new RenewalError(message, reason, domain, details, { cause: err });
  const detail = detailOf(seen, err);

  if (seen.status === 429 || type === 'rateLimited') return rateLimited(domain, retryAfter, detail, err);
  if (type === 'badNonce') return fail('bad_nonce', `the CA kept rejecting our nonce for ${domain} (${detail}); this is transient, the next attempt retries`);
  if (type && VALIDATION_TYPES.includes(type)) return validation(subproblemDomain(seen.problem) ?? domain, undefined, seen.problem, err);
  if (type && UNAUTHORIZED_TYPES.includes(type)) {
    return fail(
      'unauthorized',
      `the CA refused the account or order for ${domain}: ${detail}; check the account e-mail, the EAB kid and key (eab), and that the CA may issue for these names`,
    );
  }
  if (type === 'badCSR')
    return fail('bad_csr', `the CA rejected the CSR for ${domain}: ${detail}; check that keyType is one the CA accepts and that the names are valid`);
  if ((seen.status !== undefined && seen.status >= 500) || type === 'serverInternal') return serverError(domain, seen.status, retryAfter, detail, err);
  if (err instanceof OrderInvalidError) return fail('order_invalid', `the order for ${domain} became invalid: ${detail}; the next attempt starts a new order`);
  const network = networkReason(seen);
  if (network) return fail(network, networkMessage(network, domain, detail));
  return fail('unknown', `ACME renewal of ${domain} failed: ${detail}`);
}

function rateLimited(domain: string, retryAfter: number | undefined, detail: string, err: unknown): RenewalError {
  const when =
    retryAfter === undefined ? 'no Retry-After given; the next attempt follows the backoff' : `until ${isoSeconds(retryAfter)}; the next attempt waits for it`;
  return new RenewalError(`rate limited by the CA for ${domain} (${detail}) ${when}`, 'rate_limited', domain, retryAfter === undefined ? {} : { retryAfter }, {
    cause: err,
  });
}

function serverError(domain: string, status: number | undefined, retryAfter: number | undefined, detail: string, err: unknown): RenewalError {
  const when = retryAfter === undefined ? 'the next attempt retries' : `the next attempt waits until ${isoSeconds(retryAfter)}`;
  const what = status === undefined ? 'the ACME server failed' : `the ACME server failed with HTTP ${status}`;
  return new RenewalError(`${what} for ${domain}: ${detail}; ${when}`, 'server_error', domain, retryAfter === undefined ? {} : { retryAfter }, { cause: err });
}

const CHALLENGE_HINTS: Record<string, (domain: string) => string> = {
  'http-01': (d) => `check that http://${d}/.well-known/acme-challenge/ reaches the responder (DNS A/AAAA records, port 80, firewall, proxies)`,
  'dns-01': (d) =>
    `check that the hook publishes the TXT record _acme-challenge.${d.replace(/^\*\./, '')} where public DNS sees it, and that propagation is long enough`,
};

function validation(domain: string, challenge: string | undefined, problem: AcmeProblem | undefined, err: unknown): RenewalError {
  const type = problemType(problem);
  const hint =
    type === 'caa'
      ? `check that the CAA records of ${domain} allow this CA`
      : (CHALLENGE_HINTS[challenge ?? ''] ?? (() => 'check the challenge setup'))(domain);
  const how = challenge ? ` with ${challenge}` : '';
  const detail = problem?.detail ?? (type ? `${type} error` : 'no detail from the CA');
  return new RenewalError(`the CA could not validate ${domain}${how}: ${detail}; ${hint}`, 'validation', domain, challenge ? { challenge } : {}, {
    cause: err,
  });
}

function networkReason(seen: Seen): FailureReason | undefined {
  const code = seen.code ?? '';
  if (DNS_CODES.includes(code)) return 'dns';
  if (TIMEOUT_CODES.includes(code) || seen.timeoutName) return 'timeout';
  if (CONNECTION_CODES.includes(code) || isTlsCode(code)) return 'connection';
  return undefined;
}

/** node's certificate and handshake error codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID, ...). */
function isTlsCode(code: string): boolean {
  return /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/.test(code);
}

function networkMessage(reason: FailureReason, domain: string, detail: string): string {
  if (reason === 'dns') return `cannot resolve the ACME server's name for ${domain} (${detail}); check DNS on this host and the directory URL`;
  if (reason === 'timeout') return `the ACME server did not answer in time for ${domain} (${detail}); the next attempt retries`;
  return `cannot reach the ACME server for ${domain} (${detail}); check the directory URL and the network, and for certificate errors the issuer's ca files`;
}

/** Walks the error and its `cause` chain for a status, a problem, Retry-After and a node code. */
function look(err: unknown): Seen {
  const seen: Seen = {};
  let current: unknown = err;
  for (let depth = 0; depth < 6 && current && typeof current === 'object'; depth++) {
    const e = current as Record<string, unknown>;
    if (current instanceof AcmeResponseError) {
      seen.status ??= current.status;
      seen.problem ??= current.problem;
      seen.retryAfterHeader ??= current.retryAfterHeader;
    }
    if (current instanceof OrderInvalidError) seen.problem ??= current.problem;
    readAxiosShape(e.response, seen);
    if (typeof e.code === 'string') seen.code ??= e.code;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') seen.timeoutName = true;
    current = e.cause;
  }
  return seen;
}

/** axios errors carry `response: { status, headers, data }`. */
function readAxiosShape(response: unknown, seen: Seen): void {
  if (!response || typeof response !== 'object') return;
  const r = response as { status?: unknown; headers?: Record<string, unknown>; data?: unknown };
  if (typeof r.status === 'number') seen.status ??= r.status;
  const header = r.headers?.['retry-after'];
  if (typeof header === 'string') seen.retryAfterHeader ??= header;
  if (r.data && typeof r.data === 'object' && typeof (r.data as AcmeProblem).type === 'string') seen.problem ??= r.data as AcmeProblem;
}

/** "rateLimited" from "urn:ietf:params:acme:error:rateLimited"; undefined for other namespaces. */
function problemType(problem: AcmeProblem | undefined): string | undefined {
  const type = problem?.type;
  return type?.startsWith(ACME_ERROR) ? type.slice(ACME_ERROR.length) : undefined;
}

function subproblemDomain(problem: AcmeProblem | undefined): string | undefined {
  return problem?.subproblems?.find((p) => p.identifier?.value)?.identifier?.value;
}

/** The CA's words when it gave some, else the error text; one line, bounded. */
function detailOf(seen: Seen, err: unknown): string {
  const parts = [seen.problem?.detail ?? messageOf(err)];
  if (seen.problem?.type) parts.push(seen.problem.type);
  else if (seen.status) parts.push(`HTTP ${seen.status}`);
  const text = parts.filter(Boolean).join(', ').replace(/\s+/g, ' ');
  return text.length > 400 ? `${text.slice(0, 400)}...` : text;
}

function isoSeconds(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Any thrown value as a RenewalError for `domain` (one already is: kept as it is). */
export function asRenewalError(err: unknown, domain: string, reason: FailureReason = 'unknown'): RenewalError {
  if (err instanceof RenewalError) return err;
  return new RenewalError(`${domain}: ${messageOf(err)}`, reason, domain, {}, { cause: err });
}
