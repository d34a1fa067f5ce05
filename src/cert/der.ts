/**
 * Just enough DER to find fields by position: one tag-length-value at an offset, and the children
 * of a constructed value. For the few fixed-shape structures we read (a certificate's
 * SubjectPublicKeyInfo and signature algorithm, the public half of a private key) without a full
 * ASN.1 library or OpenSSL's slow decoders. Pure; returns undefined on anything malformed.
 */

export interface Tlv {
  tag: number;
  start: number;
  /** Where the value's content starts. */
  body: number;
  end: number;
}

export function tlv(der: Buffer, start: number): Tlv | undefined {
  if (start + 2 > der.length) return undefined;
  let len = der[start + 1]!;
  let body = start + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || body + n > der.length) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[body + i]!;
    body += n;
  }
  return body + len <= der.length ? { tag: der[start]!, start, body, end: body + len } : undefined;
}

/** The children of the constructed value `parent`, in order; undefined when one is malformed. */
export function children(der: Buffer, parent: Tlv): Tlv[] | undefined {
  const out: Tlv[] = [];
  for (let at = parent.body; at < parent.end;) {
    const child = tlv(der, at);
    if (!child) return undefined;
    out.push(child);
    at = child.end;
  }
  return out;
}

export const bytesOf = (der: Buffer, t: Tlv): Buffer => der.subarray(t.start, t.end);
