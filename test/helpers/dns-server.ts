/**
 * A tiny authoritative DNS server for tests: UDP and TCP on 127.0.0.1, one port the OS picks,
 * node:dgram and node:net only. It answers A, AAAA, TXT, SRV and TLSA questions (and ANY) from a
 * table, with AA set; NXDOMAIN for a name not in the table, NODATA (NOERROR, no answers) for a name
 * without that type. A name can instead be told to answer SERVFAIL or REFUSED, or to stay SILENT
 * (to test timeouts). A name's records can carry the AD bit (`authenticated`, as a validating
 * resolver sets it), and can be sent over UDP truncated (`truncate`: TC set, no records), so that
 * clients must ask again over TCP. Every question is recorded in `queries` as "name TYPE" (with
 * " TCP" for TCP; lower-case name, no trailing dot). Names in answers keep the case they were
 * written (or asked) in.
 *
 * It does not: recurse, validate or sign (DNSSEC), follow CNAMEs, match wildcards, or compress
 * names. TTLs are 0 so that no resolver caches an answer across `set()` (c-ares >= 1.23 has a
 * query cache). EDNS OPT records in queries are accepted and ignored; answers carry none.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** A host name, or "." for "service decidedly not available". */
  target: string;
}

export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  /** The association data, hex. */
  data: string;
}

export interface DnsRecords {
  A?: string[];
  AAAA?: string[];
  /** One entry per TXT record; a string longer than 255 bytes is split into character-strings. */
  TXT?: Array<string | string[]>;
  SRV?: SrvRecord[];
  TLSA?: TlsaRecord[];
  /** Set the AD bit in answers for this name (what a validating resolver says of a signed zone). */
  authenticated?: boolean;
  /** Over UDP, answer with TC set and no records; the full answer only over TCP. */
  truncate?: boolean;
}

/** How a name misbehaves instead of answering from records. */
export type DnsBehaviour = 'SERVFAIL' | 'REFUSED' | 'SILENT';

/** Keys are names ("_xmpp-client._tcp.example.org"); case and a trailing dot do not matter. */
export type DnsTable = Record<string, DnsRecords | DnsBehaviour>;

export interface DnsServer {
  /** "127.0.0.1:PORT", the form dns.Resolver#setServers takes. */
  address: string;
  port: number;
  /** Every question received, in order, as "name TYPE" (e.g. "_xmpp-client._tcp.example.org SRV"). */
  queries: string[];
  /** Replaces the whole table (already running queries are unaffected: answers are computed on receipt). */
  set(table: DnsTable): void;
  close(): Promise<void>;
}

const TYPES = { A: 1, TXT: 16, AAAA: 28, SRV: 33, TLSA: 52, ANY: 255 } as const;
const TYPE_NAMES = new Map<number, string>(Object.entries(TYPES).map(([name, code]) => [code, name]));
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const CLASS_IN = 1;

/** TCP may find the UDP port's number taken (another test's listener): then both are bound anew. */
const BIND_ATTEMPTS = 20;

export async function startDnsServer(initial: DnsTable = {}): Promise<DnsServer> {
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    const server = await startOnce(initial);
    if (server) return server;
  }
  throw new Error(`no port free for both UDP and TCP after ${BIND_ATTEMPTS} attempts`);
}

async function startOnce(initial: DnsTable): Promise<DnsServer | undefined> {
  let table = normalise(initial);
  const queries: string[] = [];
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, peer) => {
    // A bug or a garbage packet must not take the test process down: drop the packet instead.
    try {
      const reply = answer(msg, table, queries, false);
      if (reply) socket.send(reply, peer.port, peer.address);
    } catch {
      /* dropped */
    }
  });
  // TCP on the same port number: one length-prefixed question per connection is all clients here send.
  const tcp = net.createServer((conn) => {
    let buffered = Buffer.alloc(0);
    conn.on('error', () => undefined);
    conn.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      try {
        const reply = answer(buffered.subarray(2, 2 + buffered.readUInt16BE(0)), table, queries, true);
        if (reply) conn.end(Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]));
      } catch {
        conn.destroy();
      }
    });
  });
  const port = await bindBoth(socket, tcp);
  if (port === undefined) return undefined;
  socket.on('error', () => undefined); // after bind, a send error (peer gone) is not the test's failure
  return {
    address: `127.0.0.1:${port}`,
    port,
    queries,
    set: (next) => (table = normalise(next)),
    close: async () => {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}

/** Binds UDP to a free port and TCP to the same number; undefined (UDP closed again) when TCP finds it taken. */
async function bindBoth(socket: dgram.Socket, tcp: net.Server): Promise<number | undefined> {
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const { port } = socket.address();
  const bound = await new Promise<boolean>((resolve) => {
    tcp.once('error', () => resolve(false));
    tcp.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (bound) return port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return undefined;
}

function normalise(table: DnsTable): Map<string, DnsRecords | DnsBehaviour> {
  return new Map(Object.entries(table).map(([name, entry]) => [canonical(name), entry]));
}

const canonical = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** The reply to one datagram, or undefined when there is nothing to say (not a query, SILENT). */
function answer(msg: Buffer, table: Map<string, DnsRecords | DnsBehaviour>, queries: string[], overTcp: boolean): Buffer | undefined {
  if (msg.length < 12) return undefined;
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response, not a query
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return header(id, flags, RCODE.NOTIMP, 0, 0);
  const question = msg.readUInt16BE(4) === 1 ? readQuestion(msg) : undefined;
  if (!question) return header(id, flags, RCODE.FORMERR, 0, 0);
  const { name, type, qclass, end } = question;
  const key = canonical(name);
  queries.push(`${key} ${TYPE_NAMES.get(type) ?? `TYPE${type}`}${overTcp ? ' TCP' : ''}`);
  const entry = table.get(key);
  if (entry === 'SILENT') return undefined;
  const echo = msg.subarray(12, end); // the question as asked (case preserved, as resolvers check it)
  const reply = (rcode: number, records: Buffer[] = []) => Buffer.concat([header(id, flags, rcode, 1, records.length), echo, ...records]);
  if (entry === 'SERVFAIL' || entry === 'REFUSED') return reply(RCODE[entry]);
  if (qclass !== CLASS_IN && qclass !== TYPES.ANY) return reply(RCODE.REFUSED);
  if (!entry) return reply(RCODE.NXDOMAIN);
  const flagged = (extra: number, records: Buffer[]) => Buffer.concat([header(id, flags, RCODE.NOERROR | extra, 1, records.length), echo, ...records]);
  const ad = entry.authenticated ? AD : 0;
  if (entry.truncate && !overTcp) return flagged(ad | TC, []);
  return flagged(
    ad,
    rdataOf(entry, type).map(([rrType, rdata]) => record(name, rrType, rdata)),
  );
}

/** Flag bits OR-ed into the rcode argument of header(). */
const AD = 0x0020;
const TC = 0x0200;

/** QR, the opcode and RD copied from the query, AA; RA clear (this server does not recurse). `rcode` may carry AD and TC. */
function header(id: number, queryFlags: number, rcode: number, qdcount: number, ancount: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(0x8000 | (queryFlags & 0x7900) | 0x0400 | rcode, 2);
  out.writeUInt16BE(qdcount, 4);
  out.writeUInt16BE(ancount, 6);
  return out;
}

function readQuestion(msg: Buffer): { name: string; type: number; qclass: number; end: number } | undefined {
  const name = readName(msg, 12);
  if (!name || name.end + 4 > msg.length) return undefined;
  return { name: name.name, type: msg.readUInt16BE(name.end), qclass: msg.readUInt16BE(name.end + 2), end: name.end + 4 };
}

/** Reads a (possibly compressed) name; `end` is the offset just after it in the question. */
function readName(msg: Buffer, start: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let offset = start;
  let end: number | undefined;
  for (let jumps = 0; jumps < 32;) {
    const len = msg[offset];
    if (len === undefined) return undefined;
    if (len === 0) return { name: labels.join('.'), end: end ?? offset + 1 };
    if ((len & 0xc0) === 0xc0) {
      if (offset + 1 >= msg.length) return undefined;
      end ??= offset + 2;
      offset = msg.readUInt16BE(offset) & 0x3fff;
      jumps++;
      continue;
    }
    if (len > 63 || offset + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', offset + 1, offset + 1 + len));
    offset += 1 + len;
  }
  return undefined; // a pointer loop
}

function rdataOf(entry: DnsRecords, type: number): Array<[number, Buffer]> {
  const all: Array<[number, Buffer]> = [
    ...(entry.A ?? []).map((ip): [number, Buffer] => [TYPES.A, ipv4(ip)]),
    ...(entry.AAAA ?? []).map((ip): [number, Buffer] => [TYPES.AAAA, ipv6(ip)]),
    ...(entry.TXT ?? []).map((txt): [number, Buffer] => [TYPES.TXT, txtData(txt)]),
    ...(entry.SRV ?? []).map((srv): [number, Buffer] => [TYPES.SRV, srvData(srv)]),
    ...(entry.TLSA ?? []).map((t): [number, Buffer] => [
      TYPES.TLSA,
      Buffer.concat([Buffer.from([t.usage, t.selector, t.matchingType]), Buffer.from(t.data, 'hex')]),
    ]),
  ];
  return type === TYPES.ANY ? all : all.filter(([rrType]) => rrType === type);
}

function record(name: string, type: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(CLASS_IN, 2);
  fixed.writeUInt32BE(0, 4); // TTL 0: see the header comment
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(name), fixed, rdata]);
}

/** Case kept as written, so tests can check that the client lower-cases. */
function encodeName(name: string): Buffer {
  const labels = name.split('.').filter((label) => label !== '');
  const parts = labels.map((label) => {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length > 63) throw new Error(`DNS label longer than 63 bytes: ${label}`);
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  });
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function ipv4(ip: string): Buffer {
  if (!net.isIPv4(ip)) throw new Error(`not an IPv4 address: ${ip}`);
  return Buffer.from(ip.split('.').map(Number));
}

/** 16 bytes of an IPv6 address ("::" expanded; no embedded IPv4 form). */
function ipv6(ip: string): Buffer {
  if (!net.isIPv6(ip) || ip.includes('.')) throw new Error(`not a plain IPv6 address: ${ip}`);
  const [head = '', tail] = ip.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  all.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}

function txtData(txt: string | string[]): Buffer {
  const chunks = (Array.isArray(txt) ? txt : [txt]).flatMap((s) => split255(Buffer.from(s, 'utf8')));
  return Buffer.concat(chunks.map((chunk) => Buffer.concat([Buffer.from([chunk.length]), chunk])));
}

function split255(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) out.push(bytes.subarray(i, i + 255));
  return out.length > 0 ? out : [bytes];
}

function srvData(srv: SrvRecord): Buffer {
  const fixed = Buffer.alloc(6);
  fixed.writeUInt16BE(srv.priority, 0);
  fixed.writeUInt16BE(srv.weight, 2);
  fixed.writeUInt16BE(srv.port, 4);
  return Buffer.concat([fixed, encodeName(srv.target)]);
}

/** A UDP port nothing listens on (bound and released): a DNS server that is down. */
export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
