/**
 * exporter-toolkit's TLS settings in node's terms: TLS versions (`TLS12`), cipher suites by their
 * Go (IANA) names (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`) and curves by Go's names (`X25519`,
 * `CurveP256`), mapped to OpenSSL's names for `tls.createSecureContext`. Only what Go's
 * `tls.CipherSuites()` lists is accepted, as exporter-toolkit does. Like Go, `cipher_suites` governs
 * TLS 1.0-1.2 only: TLS 1.3 always offers its three AEAD suites, and naming one is accepted and
 * changes nothing. Without `cipher_suites` the server offers ECDHE key exchange with AEAD ciphers
 * only (no CBC, no static RSA). Pure: no I/O.
 */

export const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
export type TlsVersionName = keyof typeof TLS_VERSIONS;

/** Go's name -> OpenSSL's, for the TLS 1.0-1.2 suites of Go's `tls.CipherSuites()`. */
const TLS12_SUITES: Record<string, string> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
};
/** TLS 1.3's suites: the same names in Go and OpenSSL; always offered. */
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

export const CIPHER_SUITE_NAMES = [...Object.keys(TLS12_SUITES), ...TLS13_SUITES];

/** The default for TLS 1.2: forward secrecy (ECDHE) and AEAD (GCM, ChaCha20-Poly1305) only. */
export const DEFAULT_CIPHER_SUITES = [
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
];

/** Go's curve names (exporter-toolkit's list) -> OpenSSL's group names. */
export const CURVES = { X25519: 'X25519', CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521' } as const;
export type CurveName = keyof typeof CURVES;

/** OpenSSL's cipher string: the TLS 1.3 suites, then the chosen TLS 1.2 suites in the given order. */
export function cipherList(suites: readonly string[]): string {
  return [...TLS13_SUITES, ...suites.flatMap((name) => TLS12_SUITES[name] ?? [])].join(':');
}

/** OpenSSL's group list in preference order; undefined: OpenSSL's default (X25519, P-256, ...). */
export function curveList(curves: readonly CurveName[]): string | undefined {
  return curves.length > 0 ? curves.map((c) => CURVES[c]).join(':') : undefined;
}
