/**
 * A small stub resolver for what node:dns cannot ask: TLSA records (RFC 6698) and the AD bit
 * (RFC 4035 3.2.3: the resolver validated the answer with DNSSEC), and A/AAAA from the servers of
 * `probes.dns.servers`. It sends one question over UDP (EDNS0, 1232-byte buffer, RD and AD set as
 * RFC 6840 5.7 suggests), repeats it over TCP when the answer is truncated, and tries each server
 * in turn (twice round) within one deadline. Packets are encoded and decoded by dns-packet.
 *
 * It does not validate DNSSEC itself (it reports what the resolver says), cache, follow CNAMEs
 * beyond what the resolver already did, or read /etc/hosts. Failures come back as values with a
 * reason from DNS_FAILURE_REASONS; nothing here throws.
 */
import dgram from 'node:dgram';
import { promises as nodeDns } from 'node:dns';
import net from 'node:net';
import * as packet from 'dns-packet';
import type { DnsFailureReason } from '../model/probe';

export type RecordType = 'A' | 'AAAA' | 'TLSA';

export type DnsResult = { ok: true; rcode: 'NOERROR' | 'NXDOMAIN'; authenticated: boolean; answers: packet.Answer[] } | DnsFailure;
type DnsFailure = { ok: false; reason: DnsFailureReason; message: string };

interface Server {
  host: string;
  port: number;
}

/** "1.2.3.4", "1.2.3.4:53", "::1", "[::1]:53". Undefined for anything else (host names are not accepted: resolving the resolver is a loop). */
export function parseServer(text: string): Server | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const [host, port] = bracketed ? [bracketed[1]!, bracketed[2]] : net.isIPv6(text) ? [text, undefined] : (text.split(':') as [string, string?]);
  const number = port === undefined ? 53 : Number(port);
  if (!net.isIP(host) || !Number.isInteger(number) || number < 1 || number > 65535) return undefined;
  return { host, port: number };
}

/** The configured servers, or the system's (node reads resolv.conf for its own resolver). */
function serversOf(configured: readonly string[]): Server[] | DnsResult {
  const texts = configured.length > 0 ? configured : new nodeDns.Resolver().getServers();
  const servers: Server[] = [];
  for (const text of texts) {
    const server = parseServer(text);
    if (!server) return { ok: false, reason: 'bad_server', message: `probes.dns.servers: ${JSON.stringify(text)} is not an IP address with an optional port` };
    servers.push(server);
  }
  if (servers.length === 0) return { ok: false, reason: 'bad_server', message: 'no DNS server is configured (resolv.conf names none)' };
  return servers;
}

/** Asks `servers` (or the system's) for `name`/`type` within `timeoutMs`. */
export async function query(name: string, type: RecordType, options: { servers: readonly string[]; timeoutMs: number }): Promise<DnsResult> {
  const servers = serversOf(options.servers);
  if (!Array.isArray(servers)) return servers;
  const tries = servers.length * 2;
  const deadline = Date.now() + options.timeoutMs;
  let last: DnsFailure = { ok: false, reason: 'timeout', message: `${name} ${type}: no answer within ${options.timeoutMs} ms` };
  for (let i = 0; i < tries; i++) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const server = servers[i % servers.length]!;
    const result = await ask(server, name, type, Math.max(left / (tries - i), Math.min(left, 200)));
    if (result.ok) return result;
    if (result.reason !== 'timeout' || last.reason === 'timeout') last = result; // a server that answered SERVFAIL says more than one that timed out
  }
  return last;
}

const RCODE_REASONS: Record<string, DnsFailureReason> = { SERVFAIL: 'servfail', REFUSED: 'refused', FORMERR: 'bad_response', NOTIMP: 'bad_response' };

async function ask(server: Server, name: string, type: RecordType, timeoutMs: number): Promise<DnsResult> {
  const id = Math.floor(Math.random() * 65536);
  const question: packet.Packet = {
    type: 'query',
    id,
    flags: packet.RECURSION_DESIRED | packet.AUTHENTIC_DATA,
    questions: [{ type, name, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as unknown as packet.Answer],
  };
  const where = `${name} ${type} @${server.host}:${server.port}`;
  let reply = await overUdp(server, packet.encode(question), id, timeoutMs);
  if ('reason' in reply) return { ok: false, reason: reply.reason, message: `${where}: ${reply.message}` };
  if (reply.flag_tc) {
    reply = await overTcp(server, packet.streamEncode(question), id, timeoutMs);
    if ('reason' in reply) return { ok: false, reason: reply.reason, message: `${where} (TCP): ${reply.message}` };
  }
  const rcode = (reply as { rcode?: string }).rcode ?? 'NOERROR';
  if (rcode === 'NOERROR' || rcode === 'NXDOMAIN') return { ok: true, rcode, authenticated: reply.flag_ad, answers: reply.answers ?? [] };
  return { ok: false, reason: RCODE_REASONS[rcode] ?? 'error', message: `${where}: the server answered ${rcode}` };
}

type Reply = packet.DecodedPacket | { reason: DnsFailureReason; message: string };

/** One question's exchange: settles once (answer, error or deadline), then cleans up. */
function exchange(timeoutMs: number, cleanup: () => void, resolve: (reply: Reply) => void) {
  let settled = false;
  const done = (reply: Reply) => {
    if (settled) return; // a late error or close after the answer
    settled = true;
    clearTimeout(timer);
    cleanup();
    resolve(reply);
  };
  const timer = setTimeout(() => done({ reason: 'timeout', message: `no answer within ${Math.round(timeoutMs)} ms` }), timeoutMs);
  const onError = (err: NodeJS.ErrnoException) => done({ reason: err.code === 'ECONNREFUSED' ? 'refused' : 'error', message: err.message });
  return { done, onError };
}

function overUdp(server: Server, message: Buffer, id: number, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    const { done, onError } = exchange(timeoutMs, () => socket.close(), resolve);
    // Connected, so an ICMP "port unreachable" arrives as ECONNREFUSED instead of a silent timeout.
    socket.on('error', onError);
    socket.on('message', (data) => {
      const reply = decode(data);
      if ('reason' in reply || reply.id === id) done(reply); // another id: a stray answer, wait on
    });
    socket.connect(server.port, server.host, () => socket.send(message));
  });
}

function overTcp(server: Server, message: Buffer, id: number, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve) => {
    const socket = net.connect(server.port, server.host);
    let buffered = Buffer.alloc(0);
    const { done, onError } = exchange(timeoutMs, () => socket.destroy(), resolve);
    socket.on('error', onError);
    socket.on('connect', () => socket.write(message));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      const reply = decode(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      done('reason' in reply || reply.id === id ? reply : { reason: 'bad_response', message: 'the answer has another id' });
    });
    socket.on('close', () => done({ reason: 'bad_response', message: 'the server closed the TCP connection before answering' }));
  });
}

function decode(data: Buffer): Reply {
  try {
    return packet.decode(data);
  } catch (err) {
    return { reason: 'bad_response', message: `cannot decode the answer: ${(err as Error).message}` };
  }
}
