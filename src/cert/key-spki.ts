/**
 * The SubjectPublicKeyInfo a private key's certificate must carry, read from the key's own DER
 * (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`), which hold the public half
 * beside the private one. OpenSSL 3's decoders take ~0.5 ms per key (crypto.createPrivateKey); at
 * 100,000 hosts that was most of a cold scan. Returns undefined when the key is of another kind or
 * lacks its public half (e.g. Ed25519): the caller then asks node's crypto. Never throws; pure.
 */
import { bytesOf, children, tlv, type Tlv } from './der';

const EC_PUBLIC_KEY = Buffer.from('06072a8648ce3d0201', 'hex');
const RSA_ALGORITHM = Buffer.from('300d06092a864886f70d0101010500', 'hex');

const seq = (...parts: Buffer[]) => wrap(0x30, Buffer.concat(parts));
const bitString = (content: Buffer) => wrap(0x03, Buffer.concat([Buffer.from([0]), content]));
function wrap(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), content]);
}

/** The DER of the first private-key PEM block in `pem`, with its label. */
function pemBlock(pem: string): { label: string; der: Buffer } | undefined {
  const m = /-----BEGIN ((?:RSA |EC )?PRIVATE KEY)-----([\s\S]*?)-----END \1-----/.exec(pem);
  return m ? { label: m[1]!, der: Buffer.from(m[2]!.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64') } : undefined;
}

export function spkiOfPrivateKey(pem: string): Buffer | undefined {
  const block = pemBlock(pem);
  if (!block) return undefined;
  const top = tlv(block.der, 0);
  const fields = top && children(block.der, top);
  if (!fields) return undefined;
  if (block.label === 'RSA PRIVATE KEY') return rsaSpki(block.der, fields);
  if (block.label === 'EC PRIVATE KEY') return ecSpki(block.der, fields, undefined);
  // PKCS#8: version, AlgorithmIdentifier, privateKey OCTET STRING
  const [, algorithm, octets] = fields;
  if (!algorithm || !octets || octets.tag !== 0x04) return undefined;
  const inner = tlv(block.der, octets.body);
  const innerFields = inner && children(block.der, inner);
  if (!innerFields) return undefined;
  const alg = bytesOf(block.der, algorithm);
  if (alg.equals(RSA_ALGORITHM)) return rsaSpki(block.der, innerFields);
  if (alg.subarray(2).subarray(0, EC_PUBLIC_KEY.length).equals(EC_PUBLIC_KEY)) return ecSpki(block.der, innerFields, alg);
  return undefined;
}

/** RSAPrivateKey: version, modulus, publicExponent, ... -> SPKI { rsaEncryption, RSAPublicKey { n, e } }. */
function rsaSpki(der: Buffer, fields: Tlv[]): Buffer | undefined {
  const [, n, e] = fields;
  if (!n || !e || n.tag !== 0x02 || e.tag !== 0x02) return undefined;
  return seq(RSA_ALGORITHM, bitString(seq(bytesOf(der, n), bytesOf(der, e))));
}

/** ECPrivateKey: version, privateKey, [0] parameters, [1] publicKey -> SPKI { ecPublicKey + curve, point }. */
function ecSpki(der: Buffer, fields: Tlv[], algorithm: Buffer | undefined): Buffer | undefined {
  const params = fields.find((f) => f.tag === 0xa0);
  const publicKey = fields.find((f) => f.tag === 0xa1);
  const curve = params && tlv(der, params.body);
  const alg = algorithm ?? (curve?.tag === 0x06 ? seq(EC_PUBLIC_KEY, bytesOf(der, curve)) : undefined);
  const bits = publicKey && tlv(der, publicKey.body);
  if (!alg || !bits || bits.tag !== 0x03) return undefined;
  return seq(alg, bytesOf(der, bits));
}
