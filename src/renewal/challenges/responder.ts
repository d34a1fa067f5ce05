/**
 * The interface every challenge responder implements. The issuer publishes every key
 * authorization of an order, calls ready() once, lets the CA validate, then removes them.
 * Plain types; the responders are in their own files and index.ts picks one.
 */
export interface ChallengeResponder {
  readonly type: 'http-01' | 'dns-01';
  /**
   * Publishes one key authorization. `domain` is the authorization's identifier (no `*.`);
   * `keyAuthorization` is what acme-client's getChallengeKeyAuthorization returns (for dns-01:
   * the TXT value). Throws a RenewalError with reason challenge_setup when it cannot.
   */
  add(domain: string, token: string, keyAuthorization: string): Promise<void>;
  /** Waits until what add() published can be seen by the CA (DNS propagation); at once for http-01. */
  ready(): Promise<void>;
  remove(domain: string, token: string, keyAuthorization: string): Promise<void>;
  /** Releases listeners; safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Which responder proves which name: one for every name, or the first `challenge` rule whose
 * `match` fits (config/challenge-match.ts). `name` is the ordered name, `*.` kept for a wildcard.
 */
export interface ChallengeRouter {
  /** Undefined when no rule matches `name`. */
  responderFor(name: string): ChallengeResponder | undefined;
  /** Releases every responder's listeners. */
  close(): Promise<void>;
}
