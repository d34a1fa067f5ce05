/**
 * XMPP STARTTLS (RFC 6120 5.4): open the stream to the domain (`jabber:client` for c2s,
 * `jabber:server` for s2s, with `from` = probes.s2sFrom when set), read `<stream:features>`
 * incrementally (any chunking, at most maxFeatureBytes), send `<starttls/>`, wait for
 * `<proceed/>`, then hand the socket to the TLS handshake. After it (and after a XEP-0368 direct
 * TLS handshake) the stream is restarted over TLS (RFC 6120 5.4.3.3) and its features are read:
 * the SASL mechanisms (RFC 6120 6.4.1) and dialback (XEP-0220's `urn:xmpp:features:dialback`).
 * No authentication is attempted. XMPP is not line-based, so this reads markup, not lines. It is a
 * scanner for the few elements that matter here, not an XML parser. Failures come back as values;
 * one after TLS leaves the captured chain intact and is recorded in `features.afterTls`.
 */
import type net from 'node:net';
import { domainToUnicode } from 'node:url';
import type { ProbeResult, StreamFeatures } from '../model/probe';
import { connectTcp, secureSession, type Attempt } from './tls';

const DEFAULT_MAX_BYTES = 64 * 1024;
const TLS_NS = 'urn:ietf:params:xml:ns:xmpp-tls';

/** What the bytes read so far say; undefined: read on. */
type Verdict = { next: 'starttls'; features: string } | { next: 'proceed' } | { features: string } | { fail: ProbeResult };

export async function probeStarttls(attempt: Attempt): Promise<ProbeResult> {
  const socket = await connectTcp(attempt);
  if (!('write' in socket)) return socket;
  socket.write(streamHeader(attempt));
  const features = await readUntil(attempt, socket, (text) => judgeFeatures(attempt, text));
  if ('fail' in features) return features.fail;
  const before = 'features' in features ? mechanismsOf(features.features) : [];
  socket.write(`<starttls xmlns='${TLS_NS}'/>`);
  const answer = await readUntil(attempt, socket, (text) => judgeStarttlsAnswer(attempt, text));
  if ('fail' in answer) return answer.fail;
  socket.removeAllListeners('data');
  return afterTls(attempt, socket, before);
}

/** XEP-0368 direct TLS: the handshake first, then the stream and its features over it. */
export const probeDirectTls = (attempt: Attempt): Promise<ProbeResult> => afterTls(attempt, undefined, []);

/**
 * The TLS handshake (over `socket` after STARTTLS, else a new connection), then the stream
 * restarted over TLS and its features read. The chain is the probe's result whatever happens
 * after it: a failure (or the deadline) there lands in `features.afterTls`.
 */
async function afterTls(attempt: Attempt, socket: net.Socket | undefined, mechanismsBeforeTls: string[]): Promise<ProbeResult> {
  const session = await secureSession(attempt, socket);
  if ('ok' in session) return session;
  const { result, secure } = session;
  const withFeatures = (afterTls: StreamFeatures['afterTls']): ProbeResult => ({
    ...result,
    durationSeconds: attempt.seconds,
    features: { mechanismsBeforeTls, afterTls },
  });
  attempt.provisional = withFeatures({ ok: false, reason: 'timeout', message: 'no stream features after TLS before the probe timeout' });
  secure.write(streamHeader(attempt));
  const features = await readUntil(attempt, secure, (text) => judgeFeatures(attempt, text, false));
  secure.end(); // close_notify (a closing </stream:stream> would cost one more TLS record); Attempt.run destroys the sockets afterwards
  if ('fail' in features) {
    const failed = features.fail;
    return withFeatures(failed.ok ? { ok: false, reason: 'closed', message: 'unexpected' } : { ok: false, reason: failed.reason, message: failed.message });
  }
  const body = 'features' in features ? features.features : '';
  return withFeatures({ ok: true, mechanisms: mechanismsOf(body), dialback: DIALBACK.test(body) });
}

function streamHeader(attempt: Attempt): string {
  const { endpoint, options } = attempt;
  const s2s = endpoint.module === 's2s' || endpoint.module === 's2s_tls';
  const from = s2s && options.s2sFrom ? ` from='${escapeAttr(options.s2sFrom)}'` : '';
  // RFC 7622: a JID's domainpart is in U-label form (Prosody knows `bücher.example`, not its xn-- form); SNI stays the A-label.
  const to = endpoint.domain.includes('xn--') ? domainToUnicode(endpoint.domain) || endpoint.domain : endpoint.domain;
  return `<?xml version='1.0'?><stream:stream to='${escapeAttr(to)}'${from} version='1.0' xmlns='${s2s ? 'jabber:server' : 'jabber:client'}' xmlns:stream='http://etherx.jabber.org/streams'>`;
}

const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';
const MECHANISMS = new RegExp(`<([\\w-]+:)?mechanisms\\b[^>]*xmlns\\s*=\\s*(['"])${SASL_NS}\\2[^>]*>([\\s\\S]*?)</\\1?mechanisms>`);
const DIALBACK = /<([\w-]+:)?dialback\b[^>]*xmlns\s*=\s*(['"])urn:xmpp:features:dialback\2/;

/** The SASL mechanism names in a `<stream:features>` body, as offered (upper-case by RFC 4422). */
export function mechanismsOf(features: string): string[] {
  const list = MECHANISMS.exec(features)?.[3] ?? '';
  return [...list.matchAll(/<([\w-]+:)?mechanism\b[^>]*>\s*([^<\s]+)\s*<\/\1?mechanism>/g)].map((m) => m[2]!);
}

/** Reads until `judge` decides, the peer closes, or the byte budget is spent. */
function readUntil(attempt: Attempt, socket: net.Socket, judge: (text: string) => Verdict | undefined): Promise<Verdict> {
  const limit = attempt.options.maxFeatureBytes ?? DEFAULT_MAX_BYTES;
  let text = '';
  return new Promise((resolve) => {
    const done = (verdict: Verdict) => {
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('end', onClose);
      socket.removeListener('error', onError);
      resolve(verdict);
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1'); // markup is ASCII; latin1 never splits a byte sequence
      const verdict = judge(text);
      if (verdict) return done(verdict);
      if (text.length > limit) done({ fail: attempt.fail('too_large', `more than ${limit} bytes before the server finished its stream features`) });
    };
    const onClose = () =>
      done({
        fail: attempt.fail('closed', `the server closed the connection after ${text.length} bytes${text ? `: ${JSON.stringify(text.slice(-80))}` : ''}`),
      });
    const onError = (err: Error) => done({ fail: attempt.fail('closed', `the connection failed after ${text.length} bytes: ${err.message}`) });
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('end', onClose); // the peer sent all it will: no need to wait for the whole close
    socket.once('error', onError);
  });
}

/** Judges the stream header and features; before TLS they must offer STARTTLS (`needStarttls`). */
function judgeFeatures(attempt: Attempt, text: string, needStarttls = true): Verdict | undefined {
  const markup = text.replace(/^\s*(<\?xml[^>]*\?>)?\s*/, '');
  if (markup.length > 0 && !markup.startsWith('<')) return { fail: attempt.fail('bad_xml', `not XML: ${JSON.stringify(markup.slice(0, 40))}`) };
  // Judge the first tag only once it is whole (its name ended) and is not a split `<?xml ...?>`.
  const firstTag = markup.startsWith('<?') ? undefined : /^<([^\s>/]+)[\s>/]/.exec(markup)?.[1];
  if (firstTag && !/(^|:)stream$/.test(firstTag)) return { fail: attempt.fail('bad_xml', `expected <stream:stream>, got <${firstTag}>`) };
  const error = streamError(attempt, text);
  if (error) return error;
  const features = /<([\w-]+:)?features\b[^>]*?(\/>|>([\s\S]*?)<\/\1?features>)/.exec(text);
  if (!features) return undefined;
  const body = features[3] ?? '';
  if (!needStarttls) return { features: body };
  if (!new RegExp(`<([\\w-]+:)?starttls\\b[^>]*xmlns\\s*=\\s*(['"])${TLS_NS}\\2`).test(body)) {
    return { fail: attempt.fail('no_starttls', 'the stream features offer no <starttls/>') };
  }
  return { next: 'starttls', features: body };
}

function judgeStarttlsAnswer(attempt: Attempt, text: string): Verdict | undefined {
  const error = streamError(attempt, text);
  if (error) return error;
  if (/<([\w-]+:)?proceed\b/.test(text)) return { next: 'proceed' };
  if (/<([\w-]+:)?failure\b/.test(text)) return { fail: attempt.fail('starttls_refused', 'the server answered <failure/> to <starttls/>') };
  return undefined;
}

/** `<stream:error><host-unknown .../></stream:error>` -> stream_error naming the condition. */
function streamError(attempt: Attempt, text: string): Verdict | undefined {
  const match = /<([\w-]+:)?error\b[^>]*>([\s\S]*?)<\/\1?error>/.exec(text);
  if (!match || !(match[1] ?? '').startsWith('stream')) return undefined;
  const condition = /<([a-z-]+)\b[^>]*xmlns\s*=\s*['"]urn:ietf:params:xml:ns:xmpp-streams['"]/.exec(match[2] ?? '')?.[1] ?? 'undefined-condition';
  return { fail: attempt.fail('stream_error', `stream error: ${condition}`) };
}

const escapeAttr = (value: string) => value.replace(/[&'<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
