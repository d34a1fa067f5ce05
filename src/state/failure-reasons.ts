/**
 * Why a renewal failed: one list, a stable contract (the `reason` label of
 * xmpp_cert_renewal_attempts_total, the state file, the alerts). Plain data.
 */
export const FAILURE_REASONS = [
  'rate_limited', // 429, or a rateLimited problem; Retry-After kept
  'bad_nonce',
  'connection', // the CA cannot be reached (refused, reset, TLS to the CA)
  'dns', // the CA's name does not resolve
  'timeout',
  'validation', // a challenge failed (domain + challenge type kept)
  'unauthorized', // account/EAB/authorization refused
  'bad_csr',
  'server_error', // 5xx / serverInternal
  'order_invalid', // the order went invalid without a failed challenge
  'challenge_setup', // our side: responder cannot listen, webroot not writable, dns hook or DNS UPDATE failed
  'config', // the config asks what the CA does not offer (an ACME profile); retrying cannot help
  'hook', // renewal.hooks.pre failed: nothing was ordered
  'install',
  'reload',
  'verify',
  'unknown',
  'untrusted', // issued, but the chain does not verify while the certificate in place does: not installed
] as const;

export type FailureReason = (typeof FAILURE_REASONS)[number];
