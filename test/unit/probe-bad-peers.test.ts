/**
 * Bad peers, each a small server of the test's own on loopback: every one gives a failed probe
 * with the right reason, within the timeout, and leaves no socket open (the server sees each
 * connection closed). Plus a peer that sends its stream features one byte per write and then
 * upgrades to TLS for real: the probe still gets the served certificate.
 */
import net from 'node:net';
import tls from 'node:tls';
import { probeEndpoint } from '../../src/sources/probe';
import type { ProbeModule, ProbeResult } from '../../src/model/probe';
import { DAY, mint, type Minted } from '../helpers/certs';

const TIMEOUT = 700;
const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' from='bad.test' version='1.0'>";
const FEATURES = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";

interface Peer {
  port: number;
  open: () => number;
  close: () => Promise<void>;
}

/** A TCP server whose connections run `behave`; counts sockets still open. */
async function peer(behave: (socket: net.Socket) => void): Promise<Peer> {
  let open = 0;
  const server = net.createServer((socket) => {
    open++;
    socket.on('close', () => open--);
    socket.on('error', () => undefined);
    socket.resume(); // read what the prober sends, so its FIN is seen (a paused socket never ends)
    behave(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    open: () => open,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function probe(p: Peer, module: ProbeModule = 'c2s'): Promise<{ result: ProbeResult; ms: number }> {
  const started = Date.now();
  const result = await probeEndpoint({ domain: 'bad.test', host: '127.0.0.1', port: p.port, module }, { timeoutMs: TIMEOUT, maxFeatureBytes: 16 * 1024 });
  return { result, ms: Date.now() - started };
}

/** After the stream header, reply to whatever arrives with `answer`. */
const afterHeader = (answer: (socket: net.Socket, data: string) => void | Promise<void>) => (socket: net.Socket) => {
  let seen = '';
  socket.on('data', (d: Buffer) => {
    seen += d.toString();
    void answer(socket, seen);
  });
};

const waitClosed = async (p: Peer) => {
  for (let i = 0; i < 50 && p.open() > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return p.open();
};

const cases: Array<[string, (socket: net.Socket) => void, string]> = [
  ['garbage instead of XML', (s) => s.write('HTTP/1.1 400 Bad Request\r\n\r\n'), 'bad_xml'],
  ['another protocol in angle brackets', (s) => s.write('<html><body>hello</body></html>'), 'bad_xml'],
  ['a close in the middle of the features', (s) => s.end(HEADER + '<stream:features><starttls xmlns='), 'closed'],
  ['silence', () => undefined, 'timeout'],
  [
    'features without starttls',
    (s) => s.write(HEADER + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:features>"),
    'no_starttls',
  ],
  ['a stream error', (s) => s.write(HEADER + "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"), 'stream_error'],
  [
    '<failure/> to starttls',
    afterHeader((s, seen) => {
      if (seen.includes('<stream:stream')) s.write(HEADER + FEATURES);
      if (seen.includes('<starttls')) s.write("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    }),
    'starttls_refused',
  ],
  [
    '<failure/> to a starttls offered with spaces around = (legal XML)',
    afterHeader((s, seen) => {
      if (seen.includes('<stream:stream')) s.write(HEADER + "<stream:features><starttls xmlns = 'urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>");
      if (seen.includes('<starttls')) s.write("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    }),
    'starttls_refused',
  ],
  [
    'an endless stream',
    (s) => {
      s.write(HEADER);
      const flood = () => {
        if (!s.destroyed && s.write('<x/>'.repeat(256))) setImmediate(flood);
        else if (!s.destroyed) s.once('drain', flood);
      };
      flood();
    },
    'too_large',
  ],
];

describe.each(cases)('bad peer: %s', (_name, behave, reason) => {
  let p: Peer;
  beforeAll(async () => {
    p = await peer(behave);
  });
  afterAll(() => p.close());

  test(`fails with ${reason}, within the timeout, and closes its socket`, async () => {
    const { result, ms } = await probe(p);
    expect(result.ok ? 'ok' : result.reason).toBe(reason);
    expect(ms).toBeLessThan(TIMEOUT + 300);
    expect(await waitClosed(p)).toBe(0);
  });
});

test('nothing listening: connect', async () => {
  const p = await peer(() => undefined);
  await p.close();
  const { result } = await probe(p);
  expect(result.ok ? 'ok' : result.reason).toBe('connect');
});

test('an unresolvable host: dns', async () => {
  const result = await probeEndpoint({ domain: 'bad.test', host: 'no-such-host.invalid', port: 5222, module: 'c2s' }, { timeoutMs: 3000 });
  expect(result.ok ? 'ok' : result.reason).toBe('dns');
});

test('a TLS server that presents no certificate (PSK only): tls_handshake, socket closed', async () => {
  const server = tls.createServer({ pskCallback: () => Buffer.alloc(16), ciphers: 'PSK-AES128-CBC-SHA256', maxVersion: 'TLSv1.2' }, (s) => s.end());
  let open = 0;
  server.on('connection', (s: net.Socket) => {
    open++;
    s.on('close', () => open--);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const result = await probeEndpoint({ domain: 'bad.test', host: '127.0.0.1', port, module: 'c2s_tls' }, { timeoutMs: TIMEOUT });
  expect(result.ok ? 'ok' : result.reason).toBe('tls_handshake');
  for (let i = 0; i < 50 && open > 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(open).toBe(0);
  server.close();
});

const MECHANISMS = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>";

/**
 * A STARTTLS peer that upgrades to TLS for real (its certificate: `cert`), then does `afterTls`
 * with what arrives over TLS. Before TLS it offers `before` beside <starttls/>, one byte per write.
 */
function tlsPeer(cert: () => Minted, afterTls: (secure: tls.TLSSocket, seen: string) => void | Promise<void>, before = '') {
  return peer(
    afterHeader(async (socket, seen) => {
      if (seen.includes('<starttls')) {
        socket.removeAllListeners('data');
        socket.write("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: tls.createSecureContext({ cert: cert().pem, key: cert().keyPem }) });
        secure.on('error', () => undefined);
        let over = '';
        secure.on('data', (d: Buffer) => void afterTls(secure, (over += d.toString())));
        secure.on('end', () => secure.end());
        return;
      }
      // The client sends its header once and then waits for these features: no guard needed.
      if (seen.includes('<stream:stream')) {
        for (const byte of HEADER + FEATURES.replace('</stream:features>', `${before}</stream:features>`)) {
          socket.write(byte);
          await new Promise((r) => setImmediate(r));
        }
      }
    }),
  );
}

describe('features one byte per write, then a real TLS upgrade and the stream restarted over it', () => {
  let cert: Minted;
  const peers: Peer[] = [];
  const start = async (...args: Parameters<typeof tlsPeer> extends [unknown, ...infer R] ? R : never) => {
    const p = await tlsPeer(() => cert, ...args);
    peers.push(p);
    return p;
  };
  beforeAll(async () => {
    cert = await mint({ names: ['bad.test'], notAfter: 20 * DAY });
  });
  afterAll(() => Promise.all(peers.map((p) => p.close())));

  test('the served certificate is captured, and the mechanisms before and after TLS are read', async () => {
    const p = await start(async (secure, seen) => {
      if (!seen.includes('<stream:stream')) return;
      for (const byte of `${HEADER}<stream:features>${MECHANISMS}</stream:features>`) {
        secure.write(byte);
        await new Promise((r) => setImmediate(r));
      }
    }, "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>");
    const { result } = await probe(p);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.chain[0]!.equals(cert.der)).toBe(true);
    expect(result.authorized).toBe(false); // self-signed, not in the trust store
    expect(result.tlsVersion).toMatch(/^TLSv1\.[23]$/);
    expect(result.features).toEqual({ mechanismsBeforeTls: ['PLAIN'], afterTls: { ok: true, mechanisms: ['SCRAM-SHA-1', 'PLAIN'], dialback: false } });
    expect(await waitClosed(p)).toBe(0);
  });

  // After TLS, whatever goes wrong, the chain is the result; what went wrong is in features.afterTls.
  test.each<[string, (secure: tls.TLSSocket, seen: string) => void, string]>([
    ['a close after TLS', (secure) => secure.end(), 'closed'],
    ['silence after TLS', () => undefined, 'timeout'],
    ['garbage after TLS', (secure) => secure.write('HTTP/1.1 400 Bad Request\r\n\r\n'), 'bad_xml'],
    [
      'a stream error after TLS',
      (secure) => secure.write(HEADER + "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"),
      'stream_error',
    ],
  ])('%s: the chain is kept, and afterTls says why', async (_name, afterTls, reason) => {
    const p = await start(afterTls);
    const { result, ms } = await probe(p);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.chain[0]!.equals(cert.der)).toBe(true);
    expect(result.features?.afterTls).toMatchObject({ ok: false, reason });
    expect(ms).toBeLessThan(TIMEOUT + 300);
    expect(await waitClosed(p)).toBe(0);
  });
});
