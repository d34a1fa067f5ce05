/**
 * The factory that picks challenge responders (responder.ts) from the config: http-01 standalone
 * (our own tiny HTTP server), http-01 webroot (token files another web server serves), dns-01
 * through an operator's hook command and dns-01 by RFC 2136 (nsupdate). `challenge` is one of them
 * for every name, or a list of `{match: PATTERN, ...}` rules: the router gives each name the
 * responder of the first rule that matches it.
 */
import { ruleFor } from '../../config/challenge-match';
import type { ChallengeConfig, SingleChallengeConfig } from '../../config/renewal-schema';
import type { Logger } from '../../shared/log';
import { createDnsHookResponder } from './dns-hook';
import { createStandaloneResponder } from './http-standalone';
import type { ChallengeResponder, ChallengeRouter } from './responder';
import { createRfc2136Responder } from './rfc2136';
import { createWebrootResponder } from './webroot';

export type { ChallengeResponder, ChallengeRouter } from './responder';

export function createResponder(config: SingleChallengeConfig, log: Logger): ChallengeResponder {
  if (config.type === 'dns-01')
    return 'rfc2136' in config ? createRfc2136Responder(config.rfc2136, log) : createDnsHookResponder(config.hook, config.propagation, log);
  if ('webroot' in config) return createWebrootResponder(config.webroot);
  return createStandaloneResponder(config.listen, log);
}

/** One responder per rule, made when a name first needs it (an unused rule opens no port). */
export function createRouter(config: ChallengeConfig, log: Logger): ChallengeRouter {
  const rules: readonly SingleChallengeConfig[] = Array.isArray(config) ? config : [config];
  const made = new Map<number, ChallengeResponder>();
  return {
    responderFor(name) {
      const index = Array.isArray(config) ? ruleFor(config, name) : 0;
      if (index < 0) return undefined;
      let responder = made.get(index);
      if (!responder) made.set(index, (responder = createResponder(rules[index]!, log)));
      return responder;
    },
    async close() {
      await Promise.all([...made.values()].map((r) => r.close()));
    },
  };
}
