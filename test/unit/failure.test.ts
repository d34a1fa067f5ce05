/**
 * classifyFailure: every reason it can give, from the shapes the issuer meets (answers from the CA
 * with problem documents and Retry-After, node socket and TLS errors, axios errors, failed
 * challenges, invalid orders); messages name the domain, and request data never leaks into them.
 */
import { AcmeResponseError, ChallengeFailedError, OrderInvalidError, classifyFailure, parseRetryAfter } from '../../src/renewal/failure';
import { RenewalError } from '../../src/shared/errors';

const NOW = Date.parse('2030-01-01T14:00:00Z');
const acmeType = (t: string) => `urn:ietf:params:acme:error:${t}`;
const answer = (status: number, type?: string, retryAfter?: string, detail = 'the CA says no') =>
  new AcmeResponseError(detail, status, type ? { type: acmeType(type), detail } : undefined, retryAfter);
const nodeError = (code: string, message = `connect ${code} 192.0.2.1:443`) => Object.assign(new Error(message), { code });
const classify = (err: unknown) => classifyFailure(err, 'example.org', NOW);

describe('classifyFailure', () => {
  test('429 with Retry-After in seconds: rate_limited until then, and the message says so', () => {
    const failure = classify(answer(429, 'rateLimited', '300', 'too many certificates already issued'));
    expect(failure).toBeInstanceOf(RenewalError);
    expect(failure.reason).toBe('rate_limited');
    expect(failure.domain).toBe('example.org');
    expect(failure.details.retryAfter).toBe(NOW / 1000 + 300);
    expect(failure.message).toContain('rate limited by the CA for example.org');
    expect(failure.message).toContain('until 2030-01-01T14:05:00Z; the next attempt waits for it');
    expect(failure.message).toContain('too many certificates already issued');
  });

  test('rateLimited with an HTTP-date Retry-After, or none', () => {
    expect(classify(answer(403, 'rateLimited', 'Tue, 01 Jan 2030 15:00:00 GMT')).details.retryAfter).toBe(NOW / 1000 + 3600);
    const bare = classify(answer(429));
    expect(bare.reason).toBe('rate_limited');
    expect(bare.details.retryAfter).toBeUndefined();
    expect(bare.message).toContain('backoff');
  });

  test('an axios error with a 429 response reads the same way', () => {
    const axiosLike = Object.assign(new Error('Request failed with status code 429'), {
      response: { status: 429, headers: { 'retry-after': '60' }, data: { type: acmeType('rateLimited'), detail: 'slow down' } },
      config: { data: '{"externalAccountBinding":"SECRET-HMAC-SIGNED"}' },
    });
    const failure = classify(axiosLike);
    expect(failure.reason).toBe('rate_limited');
    expect(failure.details.retryAfter).toBe(NOW / 1000 + 60);
    expect(failure.message).not.toContain('SECRET');
  });

  test.each([
    ['badNonce', 400, 'bad_nonce'],
    ['unauthorized', 403, 'unauthorized'],
    ['accountDoesNotExist', 400, 'unauthorized'],
    ['externalAccountRequired', 403, 'unauthorized'],
    ['badCSR', 400, 'bad_csr'],
    ['serverInternal', 500, 'server_error'],
    ['malformed', 400, 'unknown'],
  ])('problem %s (HTTP %i) -> %s', (type, status, reason) => {
    const failure = classify(answer(status, type));
    expect(failure.reason).toBe(reason);
    expect(failure.message).toContain('example.org');
  });

  test('5xx keeps Retry-After; without a problem document too', () => {
    const failure = classify(answer(503, undefined, '120'));
    expect(failure.reason).toBe('server_error');
    expect(failure.details.retryAfter).toBe(NOW / 1000 + 120);
    expect(failure.message).toContain('HTTP 503');
    expect(classify(answer(502)).details.retryAfter).toBeUndefined();
  });

  test.each([
    ['ECONNREFUSED', 'connection'],
    ['ECONNRESET', 'connection'],
    ['EHOSTUNREACH', 'connection'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'connection'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'connection'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'connection'],
    ['ENOTFOUND', 'dns'],
    ['EAI_AGAIN', 'dns'],
    ['ETIMEDOUT', 'timeout'],
  ])('node error %s -> %s, also when wrapped as a cause', (code, reason) => {
    expect(classify(nodeError(code)).reason).toBe(reason);
    const wrapped = classify(new Error('request failed', { cause: nodeError(code) }));
    expect(wrapped.reason).toBe(reason);
    expect(wrapped.message).toContain('example.org');
  });

  test('an AbortSignal timeout -> timeout', () => {
    expect(classify(Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' })).reason).toBe('timeout');
  });

  test('a failed challenge: validation, with its own domain and the challenge type', () => {
    const failure = classify(new ChallengeFailedError('conference.example.org', 'http-01', { type: acmeType('connection'), detail: 'Connection refused' }));
    expect(failure.reason).toBe('validation');
    expect(failure.domain).toBe('conference.example.org');
    expect(failure.details.challenge).toBe('http-01');
    expect(failure.message).toContain('the CA could not validate conference.example.org with http-01: Connection refused');
    const unauthorized = classify(new ChallengeFailedError('*.example.org', 'dns-01', { type: acmeType('unauthorized'), detail: 'Incorrect TXT record' }));
    expect(unauthorized.reason).toBe('validation');
    expect(unauthorized.message).toContain('_acme-challenge.example.org');
  });

  test('CAA or DNS problems at order level blame the subproblem identifier', () => {
    const problem = {
      type: acmeType('caa'),
      detail: 'CAA forbids issuance',
      subproblems: [{ type: acmeType('caa'), identifier: { type: 'dns', value: 'upload.example.org' } }],
    };
    const failure = classify(new AcmeResponseError('CAA', 403, problem, undefined));
    expect(failure.reason).toBe('validation');
    expect(failure.domain).toBe('upload.example.org');
    expect(failure.message).toContain('CAA records');
  });

  test('an invalid order without a failed challenge -> order_invalid; with badCSR -> bad_csr', () => {
    expect(classify(new OrderInvalidError({ detail: 'the CA gave up' })).reason).toBe('order_invalid');
    expect(classify(new OrderInvalidError(undefined)).reason).toBe('order_invalid');
    expect(classify(new OrderInvalidError({ type: acmeType('badCSR'), detail: 'key too small' })).reason).toBe('bad_csr');
  });

  test('anything else -> unknown with the domain; a RenewalError passes through', () => {
    const failure = classify(new Error('something odd'));
    expect(failure.reason).toBe('unknown');
    expect(failure.message).toBe('ACME renewal of example.org failed: something odd');
    const setup = new RenewalError('cannot listen', 'challenge_setup', 'a.example.org');
    expect(classify(setup)).toBe(setup);
    expect(classify('a string').reason).toBe('unknown');
  });

  test('the original error stays reachable as the cause', () => {
    const original = nodeError('ECONNREFUSED');
    expect(classify(original).cause).toBe(original);
  });
});

describe('parseRetryAfter', () => {
  test('seconds, HTTP dates, nonsense', () => {
    expect(parseRetryAfter('0', NOW)).toBe(NOW / 1000);
    expect(parseRetryAfter(' 90 ', NOW)).toBe(NOW / 1000 + 90);
    expect(parseRetryAfter('Wed, 02 Jan 2030 00:00:00 GMT', NOW)).toBe(Date.parse('2030-01-02T00:00:00Z') / 1000);
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter('', NOW)).toBeUndefined();
  });
});
