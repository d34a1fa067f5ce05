/**
 * Would Prosody load this certificate and key? LuaSec's context loads the file as a PEM chain
 * (OpenSSL's SSL_CTX_use_certificate_chain_file) and the key (SSL_CTX_use_PrivateKey_file, then
 * check_private_key), under the OpenSSL security level Debian builds in (2: at least 112 bits,
 * so RSA/DSA >= 2048, EC >= 224, no SHA-1/MD5 signatures except on self-signed certificates).
 * Returns the first reason Prosody would refuse the pair, or notes when a check could not be made
 * ("not checked" is never "ok"). Pure: a function of the file's parse result and the key facts.
 */
import type { Certificate, FileResult } from '../cert';
import type { KeyFacts, LoadErrorReason } from '../model/inventory';

export interface LoadVerdict {
  reason?: LoadErrorReason;
  message?: string;
  /** Something the exporter could not check (e.g. it may not read the key); shown, not judged. */
  notChecked?: string;
}

/** OpenSSL's security bits per key size (crypto/rsa rsa_security_bits, and EC curve size / 2). */
function securityBits(keyType: Certificate['keyType']): number {
  const rsa = /^rsa-(\d+)$/.exec(keyType);
  if (rsa) {
    const bits = Number(rsa[1]);
    return bits >= 15360 ? 256 : bits >= 7680 ? 192 : bits >= 3072 ? 128 : bits >= 2048 ? 112 : bits >= 1024 ? 80 : 0;
  }
  const ec = /^ec-.*?(\d{3})/.exec(keyType);
  if (ec) return Number(ec[1]) / 2;
  return 128; // ed25519, ed448, unknown: not refused on size
}

const LEVEL_2_BITS = 112;

export function loadVerdict(cert: string, key: string, keyFound: boolean, result: FileResult, keyFacts: KeyFacts | undefined): LoadVerdict {
  if (!result.ok) return {};
  if (result.der)
    return { reason: 'not_pem', message: `${cert} is DER; Prosody loads PEM only (convert: openssl x509 -inform der -in ${cert} -out ${cert}.pem)` };
  for (const c of result.certificates) {
    const which = c.position === 0 ? 'its key' : `chain certificate ${c.position}'s key`;
    if (securityBits(c.keyType) < LEVEL_2_BITS)
      return {
        reason: 'key_too_small',
        message: `${cert}: ${which} is ${c.keyType}, under OpenSSL's security level 2 (RSA >= 2048 bits); Prosody refuses to load it`,
      };
    if (c.signatureDigest !== 'other' && !c.selfSigned)
      return {
        reason: 'weak_signature',
        message: `${cert}: certificate ${c.position} is signed with ${c.signatureDigest.toUpperCase()}, refused at OpenSSL's security level 2`,
      };
  }
  if (!key) return { reason: 'key_missing', message: `no key is configured beside ${cert} (set key in the same ssl table)` };
  if (!keyFound || keyFacts?.exists === false) return { reason: 'key_missing', message: `key ${key} does not exist` };
  if (keyFacts?.prosodyCanRead === false)
    return { reason: 'key_unreadable', message: `Prosody's user may not read ${key} (chgrp prosody and chmod 0640, or chown prosody)` };
  if (keyFacts?.matches === false) return { reason: 'key_mismatch', message: keyFacts.note ?? `key ${key} does not belong to ${cert}` };
  const notChecked = [
    ...(keyFacts?.matches === undefined ? [keyFacts?.note ?? `key ${key} not checked against the certificate`] : []),
    ...(keyFacts && keyFacts.prosodyCanRead === undefined ? ["Prosody's user is unknown here: its access to the key not checked"] : []),
  ];
  return notChecked.length > 0 ? { notChecked: notChecked.join('; ') } : {};
}
