/**
 * The CERTIFICATE blocks of a PEM text as node X509Certificate objects, in order, with undefined
 * for a block that does not parse. For the worker's checks of a chain it holds whole (trust before
 * install, TLSA values); scans read files into the model with parse.ts instead. Never throws; pure.
 */
import { X509Certificate } from 'node:crypto';

export function x509Blocks(pem: string): Array<X509Certificate | undefined> {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch {
      return undefined;
    }
  });
}
