/**
 * XMPP STARTTLS (RFC 6120 5.4): open the stream to the domain (`jabber:client` for c2s,
 * `jabber:server` for s2s), read `<stream:features>` incrementally (any chunking, at most
 * maxFeatureBytes), send `<starttls/>`, wait for `<proceed/>`, then hand the socket to the TLS
 * handshake. XMPP is not line-based, so this reads markup, not lines. It is a scanner for the few
 * elements that matter before TLS, not an XML parser. Failures come back as values.
 */
import type net from 'node:net';
import { domainToUnicode } from 'node:url';
import type { ProbeResult } from '../model/probe';
import { connectTcp, handshake, type Attempt } from './tls';

const DEFAULT_MAX_BYTES = 64 * 1024;
const TLS_NS = 'urn:ietf:params:xml:ns:xmpp-tls';

/** What the bytes read so far say; undefined: read on. */
type Verdict = { next: 'starttls' } | { next: 'proceed' } | { fail: ProbeResult };

export async function probeStarttls(attempt: Attempt): Promise<ProbeResult> {
  const socket = await connectTcp(attempt);
  if (!('write' in socket)) return socket;
  const { endpoint } = attempt;
  const ns = endpoint.module === 's2s' ? 'jabber:server' : 'jabber:client';
  // RFC 7622: a JID's domainpart is in U-label form (Prosody knows `bücher.example`, not its xn-- form); SNI stays the A-label.
  const to = endpoint.domain.includes('xn--') ? domainToUnicode(endpoint.domain) || endpoint.domain : endpoint.domain;
  socket.write(`<?xml version='1.0'?><stream:stream to='${escapeAttr(to)}' version='1.0' xmlns='${ns}' xmlns:stream='http://etherx.jabber.org/streams'>`);
  const features = await readUntil(attempt, socket, (text) => judgeFeatures(attempt, text));
  if ('fail' in features) return features.fail;
  socket.write(`<starttls xmlns='${TLS_NS}'/>`);
  const answer = await readUntil(attempt, socket, (text) => judgeStarttlsAnswer(attempt, text));
  if ('fail' in answer) return answer.fail;
  socket.removeAllListeners('data');
  return handshake(attempt, socket);
}

/** Reads until `judge` decides, the peer closes, or the byte budget is spent. */
function readUntil(attempt: Attempt, socket: net.Socket, judge: (text: string) => Verdict | undefined): Promise<Verdict> {
  const limit = attempt.options.maxFeatureBytes ?? DEFAULT_MAX_BYTES;
  let text = '';
  return new Promise((resolve) => {
    const done = (verdict: Verdict) => {
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
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
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

function judgeFeatures(attempt: Attempt, text: string): Verdict | undefined {
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
  if (!new RegExp(`<([\\w-]+:)?starttls\\b[^>]*xmlns\\s*=\\s*(['"])${TLS_NS}\\2`).test(body)) {
    return { fail: attempt.fail('no_starttls', 'the stream features offer no <starttls/>') };
  }
  return { next: 'starttls' };
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
