/** ACME tokens are base64url (RFC 8555 8.1); anything else is refused before it reaches a path or a URL. */
export function isToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{1,256}$/.test(token);
}
