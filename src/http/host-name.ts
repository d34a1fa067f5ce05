/**
 * Is a /probe target a host name at all? Checked before the allowlist and before any DNS lookup,
 * so a crafted target (`a..b`, a 300-character label, spaces, `%00`) never reaches the resolver.
 * The rules are RFC 1123's: labels of letters, digits and hyphens, 1-63 characters, not starting
 * or ending with a hyphen, 253 characters in all. A Unicode name (an IDN) is taken in its A-label
 * form (`xn--...`), as Prosody compares names (util/x509.lua).
 */
import { domainToASCII } from 'node:url';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The name in A-label form, lower-cased and without a trailing dot; or why it is not a host name. */
export function parseHostName(input: string): { name: string } | { problem: string } {
  const trimmed = input.trim().replace(/\.$/, '');
  // eslint-disable-next-line no-control-regex
  const ascii = /^[\x00-\x7f]*$/.test(trimmed) ? trimmed.toLowerCase() : domainToASCII(trimmed);
  if (ascii === '') return { problem: 'is not a valid host name' };
  if (ascii.length > 253) return { problem: `is ${ascii.length} characters long; a host name has at most 253` };
  for (const label of ascii.split('.')) {
    if (label === '') return { problem: 'has an empty label (two dots in a row, or a leading dot)' };
    if (label.length > 63) return { problem: `has a label of ${label.length} characters; at most 63` };
    if (!LABEL.test(label)) return { problem: `has a label ${JSON.stringify(label.slice(0, 63))} that is not letters, digits and inner hyphens` };
  }
  return { name: ascii };
}
