/**
 * Does a certificate chain (PEM, leaf first, as fullchain.pem holds it) verify against the trust
 * anchors the exporter uses for served chains: node's bundled roots plus the `probes.ca` files
 * (sources/live.ts trustStore)? A path is built from the leaf through the chain's own certificates
 * to an anchor: each signature checked, each issuer a CA, every certificate valid at `now`. This is
 * the check that keeps a staging or wrong-chain certificate from replacing a trusted one; it does
 * not check names (policy.ts does), revocation or name constraints. Never throws.
 */
import crypto from 'node:crypto';
import tls from 'node:tls';
import { x509Blocks } from '../cert';
import type { Logger } from '../shared/log';
import { trustStore } from '../sources/live';

export interface Trust {
  trusted: boolean;
  /** Why not, or the anchor reached. */
  detail: string;
}

const MAX_DEPTH = 8;

/** Parsed anchors per trust list (the same array object until the config is reloaded). */
const parsedAnchors = new WeakMap<readonly string[], crypto.X509Certificate[]>();

export function trustAnchors(caFiles: readonly string[], log: Logger): crypto.X509Certificate[] {
  const pems = trustStore(caFiles, log) ?? tls.rootCertificates;
  let anchors = parsedAnchors.get(pems);
  if (!anchors) {
    anchors = pems.flatMap((pem) => x509Blocks(pem)).flatMap((cert) => cert ?? []);
    parsedAnchors.set(pems, anchors);
  }
  return anchors;
}

export function verifyChain(chainPem: string, anchors: readonly crypto.X509Certificate[], now: number): Trust {
  const chain = x509Blocks(chainPem);
  const leaf = chain[0];
  if (!leaf || chain.some((c) => c === undefined)) return { trusted: false, detail: 'the chain holds a certificate that cannot be read' };
  const certs = chain as crypto.X509Certificate[];
  let current = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const expired = validityProblem(current, now);
    if (expired) return { trusted: false, detail: expired };
    if (anchors.some((a) => a.fingerprint256 === current.fingerprint256)) return { trusted: true, detail: `${current.subject} is a trusted root` };
    const anchor = anchors.find((a) => signedBy(current, a) && !validityProblem(a, now));
    if (anchor) return { trusted: true, detail: `verifies up to ${oneLine(anchor.subject)}` };
    const next = certs.find((c) => c !== current && c.ca && signedBy(current, c));
    if (!next) return { trusted: false, detail: `no trusted root for ${oneLine(current.issuer)} (not among the system roots or probes.ca)` };
    current = next;
  }
  return { trusted: false, detail: `no trusted root within ${MAX_DEPTH} certificates` };
}

function signedBy(cert: crypto.X509Certificate, issuer: crypto.X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function validityProblem(cert: crypto.X509Certificate, now: number): string | undefined {
  const from = Date.parse(cert.validFrom) / 1000;
  const to = Date.parse(cert.validTo) / 1000;
  if (now < from) return `${oneLine(cert.subject)} is not valid before ${cert.validFrom}`;
  if (now >= to) return `${oneLine(cert.subject)} expired on ${cert.validTo}`;
  return undefined;
}

const oneLine = (dn: string) => dn.split('\n').filter(Boolean).join(', ');
