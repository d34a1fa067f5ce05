/**
 * ACME Renewal Information (RFC 9773): the certificate identifier a CA expects (base64url of the
 * Authority Key Identifier's keyIdentifier, ".", base64url of the serial number's DER content
 * octets), reading a renewalInfo answer into a RenewalWindow, and the one GET that fetches it.
 * The identifier is read from the certificate's DER with a minimal walker (node's X509Certificate
 * exposes neither the AKI nor the serial's raw octets). It does not decide when to renew.
 */
import { X509Certificate } from 'node:crypto';
import { parseRetryAfter } from './failure';
import type { RenewalWindow } from './types';

/** An HTTP GET as the issuer's transport does it. */
export type Get = (url: string) => Promise<{ status: number; headers: Record<string, string | string[] | undefined>; data: unknown }>;

/** The RFC 9773 certificate identifier of the first certificate in `certPem`. */
export function ariCertId(certPem: string): string {
  const der = new X509Certificate(certPem).raw;
  const tbs = children(der, children(der, tlv(der, 0))[0]);
  const serial = tbs.find((t) => t.tag === 0x02);
  const keyId = authorityKeyId(der, tbs);
  if (!serial) throw new Error('the certificate has no serial number');
  if (!keyId) throw new Error('the certificate has no Authority Key Identifier with a keyIdentifier');
  return `${keyId.toString('base64url')}.${der.subarray(serial.start, serial.end).toString('base64url')}`;
}

/** `{suggestedWindow: {start, end}, explanationURL?}` plus Retry-After; undefined when unusable. */
export function parseRenewalInfo(body: unknown, retryAfterHeader: string | undefined, nowMs = Date.now()): RenewalWindow | undefined {
  const info = body as { suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown } | null;
  const start = Date.parse(String(info?.suggestedWindow?.start));
  const end = Date.parse(String(info?.suggestedWindow?.end));
  // RFC 9773 4.2: a window whose end is not after its start is invalid.
  if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) return undefined;
  const window: RenewalWindow = { start: Math.floor(start / 1000), end: Math.floor(end / 1000) };
  const retryAfter = parseRetryAfter(retryAfterHeader, nowMs);
  if (retryAfter !== undefined) window.retryAfter = retryAfter;
  if (typeof info?.explanationURL === 'string') window.explanationUrl = info.explanationURL;
  return window;
}

/** GETs `<renewalInfo>/<certID>`; throws on a non-200 answer or an unusable body. */
export async function fetchRenewalInfo(get: Get, renewalInfoUrl: string, certPem: string, nowMs = Date.now()): Promise<RenewalWindow> {
  const url = `${renewalInfoUrl.replace(/\/+$/, '')}/${ariCertId(certPem)}`;
  const response = await get(url);
  if (response.status !== 200) throw new Error(`renewalInfo answered HTTP ${response.status}`);
  const header = response.headers['retry-after'];
  const window = parseRenewalInfo(response.data, typeof header === 'string' ? header : undefined, nowMs);
  if (!window) throw new Error('renewalInfo answered without a valid suggestedWindow');
  return window;
}

interface Tlv {
  tag: number;
  /** Content octets: [start, end). */
  start: number;
  end: number;
}

/** One DER tag-length-value at `offset` (single-byte tags: all X.509 needs). */
function tlv(der: Buffer, offset: number): Tlv {
  const tag = der.readUInt8(offset);
  let length = der.readUInt8(offset + 1);
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der.readUInt8(start + i);
    start += octets;
  }
  if (start + length > der.length) throw new RangeError('truncated DER');
  return { tag, start, end: start + length };
}

function children(der: Buffer, parent: Tlv | undefined): Tlv[] {
  if (!parent) throw new RangeError('missing DER element');
  const out: Tlv[] = [];
  for (let offset = parent.start; offset < parent.end;) {
    const child = tlv(der, offset);
    out.push(child);
    offset = child.end;
  }
  return out;
}

const AKI_OID = Buffer.from([0x55, 0x1d, 0x23]); // 2.5.29.35

/** tbsCertificate [3] -> Extensions -> the AKI's OCTET STRING -> SEQUENCE -> [0] keyIdentifier. */
function authorityKeyId(der: Buffer, tbs: Tlv[]): Buffer | undefined {
  const explicit = tbs.find((t) => t.tag === 0xa3);
  if (!explicit) return undefined;
  for (const extension of children(der, children(der, explicit)[0])) {
    const [oid, ...rest] = children(der, extension);
    if (!oid || !der.subarray(oid.start, oid.end).equals(AKI_OID)) continue;
    const value = rest.find((t) => t.tag === 0x04);
    const keyId = value && children(der, children(der, value)[0]).find((t) => t.tag === 0x80);
    return keyId && der.subarray(keyId.start, keyId.end);
  }
  return undefined;
}
