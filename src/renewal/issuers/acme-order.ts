/**
 * One ACME order, start to finish, on an account that exists: new order (with `profile` and ARI's
 * `replaces` when given), publish the challenge of every pending authorization, tell the CA to
 * validate, poll the order, finalize with the CSR, poll again, download the chain. Published
 * challenges are always removed; on failure, authorizations left pending are deactivated (best
 * effort) so they do not count against the CA's pending-authorization limit. Failures come out
 * typed (ChallengeFailedError, OrderInvalidError, AcmeResponseError, node errors) for
 * classifyFailure. The only loop is the status polling one order needs; retrying is the worker's.
 */
import type { Authorization, Client, Order } from 'acme-client';
import { RenewalError, messageOf } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import type { ChallengeResponder, ChallengeRouter } from '../challenges';
import { ChallengeFailedError, OrderInvalidError, type AcmeProblem } from '../failure';
import type { AcmeTransport } from './acme-transport';

export interface OrderRequest {
  /** The group's name: what failures name when no single domain is to blame. */
  name: string;
  domains: string[];
  csr: Buffer;
  profile?: string;
  replaces?: string;
  preferredChain?: string;
}

interface Published {
  responder: ChallengeResponder;
  domain: string;
  token: string;
  keyAuthorization: string;
}

type NewOrder = Parameters<Client['createOrder']>[0] & { profile?: string; replaces?: string };

/** How long the CA may take to validate, and to issue after finalize. */
const POLL_LIMIT_MS = 120_000;
const POLL_MAX_DELAY_MS = 5_000;

export class AcmeOrderRun {
  constructor(
    private readonly client: Client,
    private readonly transport: AcmeTransport,
    private readonly router: ChallengeRouter,
    private readonly log: Logger,
  ) {}

  private signal: AbortSignal | undefined;

  /** The certificate chain (PEM, leaf first). `signal`: stop polling on shutdown. */
  async run(request: OrderRequest, signal?: AbortSignal): Promise<string> {
    this.signal = signal;
    let order = await this.createOrder(request);
    if (order.status === 'pending') order = await this.authorize(order, request.name);
    if (order.status === 'ready') order = await this.transport.call(() => this.client.finalizeOrder(order, request.csr));
    if (order.status === 'processing') order = await this.poll(order, ['valid', 'invalid'], request.name);
    if (order.status !== 'valid') throw new OrderInvalidError((order as { error?: AcmeProblem }).error);
    return this.transport.call(() => this.client.getCertificate(order, request.preferredChain));
  }

  private async createOrder(request: OrderRequest): Promise<Order> {
    const payload: NewOrder = { identifiers: request.domains.map((value) => ({ type: 'dns', value })) };
    if (request.profile) payload.profile = request.profile;
    if (!request.replaces) return this.transport.call(() => this.client.createOrder(payload));
    try {
      const withReplaces: NewOrder = { ...payload, replaces: request.replaces };
      return await this.transport.call(() => this.client.createOrder(withReplaces));
    } catch (err) {
      // A CA may refuse `replaces` (already replaced, issued to another account): order without it.
      if (!refusedReplaces(err)) throw err;
      this.log.warn({ group: request.name, err: messageOf(err) }, 'the CA refused "replaces"; ordering without it');
      return this.transport.call(() => this.client.createOrder(payload));
    }
  }

  private async authorize(order: Order, name: string): Promise<Order> {
    const pending = (await this.transport.call(() => this.client.getAuthorizations(order))).filter((a) => a.status === 'pending');
    const published: Published[] = [];
    try {
      const challenges = [];
      for (const authz of pending) {
        const { challenge, entry } = await this.publish(authz);
        published.push(entry);
        challenges.push(challenge);
      }
      // Each responder once (a dns-01 one waits for propagation), in the order first used.
      for (const responder of new Set(published.map((p) => p.responder))) await responder.ready();
      for (const challenge of challenges) await this.transport.call(() => this.client.completeChallenge(challenge));
      const settled = await this.poll(order, ['ready', 'valid', 'invalid'], name);
      if (settled.status === 'invalid') throw await this.blame(settled);
      return settled;
    } catch (err) {
      // After a network failure the CA is likely unreachable for the clean-up too: skip it.
      if ((err as { code?: unknown } | null)?.code === undefined) await this.deactivate(order);
      throw err;
    } finally {
      await this.unpublish(published);
    }
  }

  private async publish(authz: Authorization) {
    const domain = displayName(authz);
    const responder = this.responderFor(domain);
    const challenge = authz.challenges.find((c) => c.type === responder.type);
    if (!challenge) {
      const offered = authz.challenges.map((c) => c.type).join(', ');
      throw new RenewalError(`the CA offers no ${responder.type} challenge for ${domain} (only ${offered}); wildcards need dns-01`, 'challenge_setup', domain, {
        challenge: responder.type,
      });
    }
    const keyAuthorization = await this.client.getChallengeKeyAuthorization(challenge);
    await responder.add(authz.identifier.value, challenge.token, keyAuthorization);
    this.log.debug({ domain, challenge: challenge.type }, 'challenge published');
    return { challenge, entry: { responder, domain: authz.identifier.value, token: challenge.token, keyAuthorization } };
  }

  private responderFor(domain: string): ChallengeResponder {
    const responder = this.router.responderFor(domain);
    if (responder) return responder;
    throw new RenewalError(
      `no challenge entry matches ${domain}: add a {match: ..., type: ...} entry for it to the issuer's challenge list (or a last one with match: "*")`,
      'challenge_setup',
      domain,
    );
  }

  private async unpublish(published: Published[]): Promise<void> {
    for (const p of published) {
      await p.responder.remove(p.domain, p.token, p.keyAuthorization).catch((err: unknown) => {
        this.log.warn({ domain: p.domain, err: messageOf(err) }, 'cannot remove a published challenge; remove it by hand');
      });
    }
  }

  /** The failed challenge behind an invalid order, else the order's own error. */
  private async blame(order: Order): Promise<Error> {
    const authzs = await this.transport.call(() => this.client.getAuthorizations(order));
    for (const authz of authzs.filter((a) => a.status === 'invalid')) {
      const type = this.router.responderFor(displayName(authz))?.type;
      const failed = authz.challenges.find((c) => c.status === 'invalid') ?? authz.challenges.find((c) => c.type === type);
      return new ChallengeFailedError(displayName(authz), failed?.type ?? type ?? 'unknown', failed?.error);
    }
    return new OrderInvalidError((order as { error?: AcmeProblem }).error);
  }

  private async deactivate(order: Order): Promise<void> {
    try {
      const authzs = await this.client.getAuthorizations(order);
      for (const authz of authzs.filter((a) => a.status === 'pending')) await this.client.deactivateAuthorization(authz);
    } catch (err) {
      this.log.debug({ err: messageOf(err) }, 'cannot deactivate pending authorizations');
    }
  }

  /** Polls the order until its status is one of `until`, backing off up to 5 s between polls. */
  private async poll(order: Order, until: Order['status'][], name: string): Promise<Order> {
    const deadline = Date.now() + POLL_LIMIT_MS;
    for (let attempt = 0; ; attempt++) {
      const current = await this.transport.call(() => this.client.getOrder(order));
      if (until.includes(current.status)) return current;
      const delay = Math.min(250 * 2 ** attempt, POLL_MAX_DELAY_MS);
      if (this.signal?.aborted) throw new RenewalError(`the order for ${name} was left "${current.status}": the worker is shutting down`, 'timeout', name);
      if (Date.now() + delay > deadline) {
        throw new RenewalError(
          `the CA left the order for ${name} "${current.status}" for ${POLL_LIMIT_MS / 1000} s; the next attempt starts a new order`,
          'timeout',
          name,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

function displayName(authz: Authorization): string {
  return authz.wildcard ? `*.${authz.identifier.value}` : authz.identifier.value;
}

function refusedReplaces(err: unknown): boolean {
  const { status, problem } = err as { status?: number; problem?: AcmeProblem };
  return status === 409 || /:(alreadyReplaced|malformed|conflict)$/.test(problem?.type ?? '');
}
