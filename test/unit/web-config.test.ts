/**
 * web-config.yml as exporter-toolkit defines it: which keys and values are accepted, the TLS
 * options they become for node, and the errors (naming the key) for what cannot work. Serving with
 * them is proven with openssl in test/integration/tls-settings.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadWebConfig } from '../../src/http/web-config';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xce-webcfg-'));
let n = 0;
const load = (yaml: string) => {
  const file = path.join(root, `w${n++}.yml`);
  fs.writeFileSync(file, yaml);
  return loadWebConfig(file);
};
// Loading only reads the certificate files (the server's TLS context parses them): empty ones do here.
const tls = (extra: string) => `tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n${extra}`;
beforeAll(() => {
  for (const f of ['c.pem', 'k.pem']) fs.writeFileSync(path.join(root, f), '');
});

test('defaults: TLS 1.2-1.3, the TLS 1.3 suites then the six ECDHE + AEAD ones, server order, OpenSSL curves', () => {
  expect(load(tls('')).tls).toMatchObject({
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    honorCipherOrder: true,
    ciphers:
      'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:' +
      'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:' +
      'ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305',
  });
  expect(load(tls('')).tls?.ecdhCurve).toBeUndefined();
});

test("Go's names become OpenSSL's, in the given order; a TLS 1.3 name is accepted and changes nothing", () => {
  const web = load(
    tls(
      '  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA, TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA]\n  curve_preferences: [CurveP384, X25519]\n  prefer_server_cipher_suites: false\n',
    ),
  );
  expect(web.tls).toMatchObject({
    ciphers: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:AES128-SHA:ECDHE-ECDSA-AES256-SHA',
    ecdhCurve: 'P-384:X25519',
    honorCipherOrder: false,
  });
});

test.each([
  [tls('  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n'), /tls_server_config\.cipher_suites\[0\]: expected a cipher suite of Go's tls\.CipherSuites\(\)/],
  [tls('  curve_preferences: [P-256]\n'), /tls_server_config\.curve_preferences\[0\]: expected one of X25519, CurveP256, CurveP384, CurveP521/],
  [tls('  min_version: TLS14\n'), /tls_server_config\.min_version: expected one of TLS10, TLS11, TLS12, TLS13/],
  [tls('  min_version: TLS13\n  max_version: TLS12\n'), /min_version TLS13 is above max_version TLS12/],
  [tls('  max_version: TLS11\n  min_version: TLS10\n'), /max_version TLS11: OpenSSL here refuses TLS 1\.0 and 1\.1/],
  [tls('  max_version: TLS12\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n'), /cipher_suites names no TLS 1\.2 suite/],
  [tls('  client_ca_file: c.pem\n'), /client_ca_file is set but client_auth_type is NoClientCert/],
  [tls('  client_auth_type: RequireAndVerifyClientCert\n'), /client_ca_file is needed for client_auth_type RequireAndVerifyClientCert/],
  [
    tls('  client_allowed_sans: [a]\n  key: inline\n'),
    /tls_server_config\.client_allowed_sans: an exporter-toolkit key this exporter does not implement[\s\S]*tls_server_config\.key: an exporter-toolkit key/,
  ],
  ['http_server_config:\n  http2: true\n', /http_server_config\.http2: HTTP\/2 is not supported/],
  ['rate_limit:\n  interval: 1s\n  burst: 5\n', /rate_limit: an exporter-toolkit key this exporter does not implement/],
  ['tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  cert_flie: x\n', /tls_server_config\.cert_flie: unknown key/],
  ['http_server_config:\n  headers:\n    Cache-Control: no-store\n', /http_server_config\.headers\.Cache-Control: header "Cache-Control" cannot be set/],
  ['http_server_config:\n  headers:\n    constructor: x\n', /http_server_config\.headers\.constructor: header "constructor" cannot be set/],
  ['http_server_config:\n  headers:\n    x-frame-options: deny\n', /header "x-frame-options" cannot be set/],
  ['http_server_config:\n  headers:\n    X-Frame-Options: allow\n', /X-Frame-Options: expected one of deny, sameorigin, got "allow"/],
  [
    'http_server_config:\n  headers:\n    Content-Security-Policy: "a\\r\\nSet-Cookie: x"\n',
    /Content-Security-Policy: expected a single line of printable text/,
  ],
])('refused, naming the key: %s', (yaml, message) => {
  expect(() => load(yaml)).toThrow(message);
});

test("exporter-toolkit's headers and http2: false are accepted; the old RequireClientCert name too", () => {
  const web = load(
    tls('  client_auth_type: RequireClientCert\n') +
      'http_server_config:\n  http2: false\n  headers:\n    Strict-Transport-Security: max-age=63072000; includeSubDomains\n    X-Frame-Options: sameorigin\n    X-Content-Type-Options: nosniff\n',
  );
  expect(web.headers).toEqual({
    'Strict-Transport-Security': 'max-age=63072000; includeSubDomains',
    'X-Frame-Options': 'sameorigin',
    'X-Content-Type-Options': 'nosniff',
  });
  expect(web.tls?.clientAuth).toBe('RequireAnyClientCert');
});
