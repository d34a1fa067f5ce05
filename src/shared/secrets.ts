/**
 * Text that must not show a secret: replacing known secret values in any text (`scrub`), cutting
 * every URL in a text down to its scheme and host (`censorUrls`), and the pieces of a secret URL
 * that may turn up on their own (`urlSecretParts`). Which values are secret is the config's
 * business (config/secret.ts marks them in the schema); this module only handles strings.
 */

export const REDACTED = '<redacted>';

/** Replaces every occurrence of each secret in `text`; secrets shorter than `minLength` are left (they would match anywhere). */
export function scrub(text: string, secrets: Iterable<string>, minLength = 4): string {
  let out = text;
  // Longest first, so a whole path+query becomes one <redacted> rather than pieces of it.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) if (secret.length >= minLength) out = out.split(secret).join(REDACTED);
  return out;
}

/** Where a URL points, without its user info, path and query (they may carry a token). */
export function urlOrigin(value: string): string {
  try {
    const u = new URL(value);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(not a URL)';
  }
}

/** `scheme://host/<redacted>`, or the URL as it is when it has no user info, path or query to hide. */
function censorUrl(url: string): string {
  const [, scheme, rest] = /^([^:]+):\/\/(.*)$/s.exec(url)!;
  const authority = /^[^/?#]*/.exec(rest!)![0];
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  const tail = rest!.slice(authority.length);
  return host !== authority || (tail !== '' && tail !== '/') ? `${scheme}://${host}/${REDACTED}` : url;
}

/** Every `scheme://...` in `text` cut to its scheme and host: errors never quote a URL's user info, path or query. */
export function censorUrls(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]*/gi, censorUrl);
}

/** The whole URL and each piece of it that is a secret when it stands alone (path, query, values, user info, long path segments). */
export function urlSecretParts(value: string): string[] {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return [value];
  }
  // Long path segments are tokens (Slack's, Discord's); short ones are words such as "services".
  const tokens = u.pathname.split('/').filter((segment) => segment.length >= 16);
  const parts = [
    value,
    u.pathname + u.search,
    u.pathname.length > 1 ? u.pathname : '',
    ...tokens,
    u.search,
    ...u.searchParams.values(),
    u.username,
    u.password,
  ];
  return [...new Set(parts.filter(Boolean))];
}
