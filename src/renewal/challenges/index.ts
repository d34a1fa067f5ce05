/**
 * The challenge responders behind one interface, and the factory that picks one from the config:
 * http-01 standalone (our own tiny HTTP server), http-01 webroot (token files another web server
 * serves) and dns-01 through an operator's hook command. The issuer publishes every key
 * authorization of an order, calls ready() once, lets the CA validate, then removes them.
 */
import type { ChallengeConfig } from '../../config/renewal-schema';
import type { Logger } from '../../shared/log';
import { createDnsHookResponder } from './dns-hook';
import { createStandaloneResponder } from './http-standalone';
import { createWebrootResponder } from './webroot';

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

export function createResponder(config: ChallengeConfig, log: Logger): ChallengeResponder {
  if (config.type === 'dns-01') return createDnsHookResponder(config.hook, config.propagation, log);
  if ('webroot' in config) return createWebrootResponder(config.webroot);
  return createStandaloneResponder(config.listen, log);
}
