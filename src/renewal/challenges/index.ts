/**
 * The factory that picks a challenge responder (responder.ts) from the config:
 * http-01 standalone (our own tiny HTTP server), http-01 webroot (token files another web server
 * serves) and dns-01 through an operator's hook command.
 */
import type { ChallengeConfig } from '../../config/renewal-schema';
import type { Logger } from '../../shared/log';
import { createDnsHookResponder } from './dns-hook';
import { createStandaloneResponder } from './http-standalone';
import type { ChallengeResponder } from './responder';
import { createWebrootResponder } from './webroot';

export type { ChallengeResponder } from './responder';

export function createResponder(config: ChallengeConfig, log: Logger): ChallengeResponder {
  if (config.type === 'dns-01') return createDnsHookResponder(config.hook, config.propagation, log);
  if ('webroot' in config) return createWebrootResponder(config.webroot);
  return createStandaloneResponder(config.listen, log);
}
