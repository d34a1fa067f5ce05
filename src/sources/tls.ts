/**
 * TLS for the live probes: the handshake on a fresh TCP connection (XEP-0368 direct TLS with ALPN
 * `xmpp-client` / `xmpp-server`, or https) or on a socket after STARTTLS, with SNI = the XMPP
 * domain. The served chain is captured even when it is expired, untrusted or for the wrong name
 * (rejectUnauthorized: false); node's verdict against the trust store is kept beside it.
 * Nothing here throws: failures come back as a ProbeFailure value.
 */
import net from 'node:net';
import tls from 'node:tls';
import { certificateFromX509, type Certificate } from '../cert';
import type { Endpoint, ProbeFailureReason, ProbeOptions, ProbeResult, ProbeSuccess } from '../model/probe';

/** A probe's single deadline and cleanup: every socket it opened is destroyed when it settles. */
export class Attempt {
  readonly started = process.hrtime.bigint();
  private readonly sockets: net.Socket[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** What to answer if the deadline passes from here on (the chain is captured; the stream after TLS is still being read). */
  provisional: ProbeResult | undefined;

  constructor(
    readonly endpoint: Endpoint,
    readonly options: ProbeOptions,
  ) {}

  track<S extends net.Socket>(socket: S): S {
    this.sockets.push(socket);
    return socket;
  }

  get seconds(): number {
    return Number(process.hrtime.bigint() - this.started) / 1e9;
  }

  fail(reason: ProbeFailureReason, message: string): ProbeResult {
    return { ok: false, endpoint: this.endpoint, durationSeconds: this.seconds, reason, message };
  }

  /** Runs `work` against the deadline (and the caller's abort signal); always cleans up. */
  async run(work: () => Promise<ProbeResult>): Promise<ProbeResult> {
    let onAbort = () => undefined as void;
    const deadline = new Promise<ProbeResult>((resolve) => {
      this.timer = setTimeout(() => resolve(this.provisional ?? this.fail('timeout', `no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      onAbort = () => resolve(this.provisional ?? this.fail('timeout', 'aborted by the caller'));
      this.options.signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([work(), deadline]);
    } finally {
      clearTimeout(this.timer);
      this.options.signal?.removeEventListener('abort', onAbort);
      // Newest first: a TLS socket is destroyed before the TCP socket under it (the other order
      // crashes node 20 when the peer is still mid-handshake).
      for (const socket of [...this.sockets].reverse()) socket.destroy();
    }
  }
}

/** The endpoint's address when resolved, else its host name (resolved by the system on connect). */
const addressOf = (endpoint: Endpoint) => endpoint.address ?? endpoint.host;
/** `host:port`, with an IPv6 address in brackets. */
const where = (endpoint: Endpoint) =>
  net.isIPv6(addressOf(endpoint)) ? `[${addressOf(endpoint)}]:${endpoint.port}` : `${addressOf(endpoint)}:${endpoint.port}`;

/** Connects TCP; resolves the socket or a failure (dns / connect). */
export function connectTcp(attempt: Attempt): Promise<net.Socket | ProbeResult> {
  const { port } = attempt.endpoint;
  const host = addressOf(attempt.endpoint);
  return new Promise((resolve) => {
    const socket = attempt.track(net.connect({ host, port }));
    socket.once('connect', () => resolve(socket));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(attempt.fail(socketReason(err), `${where(attempt.endpoint)}: ${err.message}`)));
  });
}

function socketReason(err: NodeJS.ErrnoException): ProbeFailureReason {
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' || err.code === 'ENODATA') return 'dns';
  return 'connect';
}

const ALPN: Partial<Record<Endpoint['module'], string[]>> = { c2s_tls: ['xmpp-client'], s2s_tls: ['xmpp-server'], https: ['http/1.1'] };

/**
 * One SecureContext per trust store, reused by every probe: building one (and loading the roots
 * into it) cost more than a tenth of a loopback probe.
 */
const contexts = new WeakMap<object, tls.SecureContext>();
const DEFAULT_TRUST = {};
function secureContext(ca: ProbeOptions['ca']): tls.SecureContext {
  const key = ca ?? DEFAULT_TRUST;
  let context = contexts.get(key);
  if (!context) {
    context = tls.createSecureContext(ca ? { ca } : {});
    contexts.set(key, context);
  }
  return context;
}

/** The TLS handshake, over `socket` (after STARTTLS) or a new connection; captures the chain and closes. */
export async function handshake(attempt: Attempt, socket?: net.Socket): Promise<ProbeResult> {
  const done = await secureSession(attempt, socket);
  if ('ok' in done) return done;
  done.secure.end(); // a polite close_notify; Attempt.run destroys it afterwards in any case
  return done.result;
}

/**
 * The TLS handshake, leaving the session open for the caller (the XMPP stream restarts over it):
 * the captured chain and the socket, or a failure.
 */
export function secureSession(attempt: Attempt, socket?: net.Socket): Promise<ProbeResult | { result: ProbeSuccess; secure: tls.TLSSocket }> {
  const { endpoint, options } = attempt;
  return new Promise((resolve) => {
    const alpn = ALPN[endpoint.module];
    const secure = attempt.track(
      tls.connect({
        ...(socket ? { socket } : { host: addressOf(endpoint), port: endpoint.port }),
        servername: endpoint.domain,
        rejectUnauthorized: false, // capture whatever is served, then judge it
        // `authorized` must speak of the chain only; the name is judged separately (RFC 6120 13.7:
        // SRV-ID and XmppAddr count too, which node's check does not know).
        checkServerIdentity: () => undefined,
        ...(alpn ? { ALPNProtocols: alpn } : {}),
        secureContext: secureContext(options.ca),
      }),
    );
    secure.once('secureConnect', () => {
      const result = captured(attempt, secure);
      resolve(result.ok ? { result, secure } : result);
    });
    secure.once('error', (err: NodeJS.ErrnoException) => {
      const reason = socket
        ? 'tls_handshake'
        : err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET'
          ? 'connect'
          : err.syscall === 'getaddrinfo'
            ? 'dns'
            : 'tls_handshake';
      resolve(attempt.fail(reason, `${where(endpoint)}: ${err.message}`));
    });
  });
}

function captured(attempt: Attempt, secure: tls.TLSSocket): ProbeResult {
  const served = servedChain(secure);
  if (served.length === 0) return attempt.fail('no_certificate', 'the TLS server presented no certificate');
  const alpn = secure.alpnProtocol;
  return {
    ok: true,
    endpoint: attempt.endpoint,
    durationSeconds: attempt.seconds,
    tlsVersion: secure.getProtocol() ?? 'unknown',
    ...(alpn ? { alpn } : {}),
    chain: served.map((s) => s.der),
    certificates: served.map((s) => s.certificate),
    authorized: secure.authorized,
    ...(secure.authorizationError ? { authorizationError: String(secure.authorizationError) } : {}),
  };
}

/**
 * The certificates as served, leaf first, following issuerCertificate until it repeats.
 * getPeerX509Certificate, not getPeerCertificate(true): the latter decodes every field of every
 * certificate into plain objects, a fifth of a loopback probe's time. The X509 objects TLS parsed
 * are read into our model here, so the chain is not parsed again from DER.
 */
function servedChain(secure: tls.TLSSocket): Array<{ der: Buffer; certificate: Certificate }> {
  const chain: Array<{ der: Buffer; certificate: Certificate }> = [];
  const seen = new Set<string>();
  let cert = secure.getPeerX509Certificate();
  while (cert) {
    const certificate = certificateFromX509(cert, chain.length);
    if (seen.has(certificate.fingerprint)) break;
    seen.add(certificate.fingerprint);
    chain.push({ der: cert.raw, certificate });
    cert = cert.issuerCertificate;
  }
  return chain;
}
