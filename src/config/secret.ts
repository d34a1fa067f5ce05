/**
 * The one mark for secret config fields, and everything derived from it. A field is marked where
 * the schema defines it, `secret(url())`, and nowhere else; `xmpp-cert config` (redact.ts), config
 * error messages (load.ts, http/web-config.ts) and the logger (shared/log.ts, fed by
 * `protectConfigSecrets`) all find secrets by walking the schema for that mark, so a field marked
 * later is covered everywhere at once.
 *
 * The mark lives in a registry of its own rather than in zod's global `.meta()`: it is typed
 * without augmenting zod's types, and nothing else that reads the global registry (JSON Schema
 * export) mixes it up with descriptions. zod keeps the mark through `.refine()` (a refined schema
 * inherits its parent's metadata) and wrappers such as `.optional()` are walked through.
 * No I/O.
 */
import { z } from 'zod';
import { protectSecrets } from '../shared/log';
import { REDACTED, scrub, urlOrigin, urlSecretParts } from '../shared/secrets';

/** `url`: scheme and host may be shown (where a webhook goes), the rest never. `text`: nothing is shown. */
export type SecretKind = 'text' | 'url';

const marks = z.registry<{ kind: SecretKind }>();

/** Marks `schema` as a secret field. A mapping or list marked so is secret in every value (header names stay visible). */
export function secret<T extends z.ZodType>(schema: T, kind: SecretKind = 'text'): T {
  marks.add(schema, { kind });
  return schema;
}

/** A path segment: a key, `[]` for every item of a list, `*` for every value of a mapping. */
export type PathSegment = string;
export interface SecretField {
  path: PathSegment[];
  kind: SecretKind;
  /** The marked schema (a string, a URL, a mapping of header values, ...). */
  schema: z.ZodType;
}

type Def = { type: string; [key: string]: unknown };
const defOf = (schema: z.ZodType) => schema._zod.def as unknown as Def;

/** Every marked field under `schema`, e.g. `{ path: ['notify', 'webhooks', '[]', 'url'], kind: 'url' }`. */
export function secretFields(schema: z.ZodType, path: PathSegment[] = [], seen = new Set<z.ZodType>()): SecretField[] {
  const mark = marks.get(schema);
  if (mark) return [{ path, kind: mark.kind, schema }];
  if (seen.has(schema)) return [];
  seen.add(schema);
  return children(schema).flatMap(([segment, child]) => secretFields(child, segment === undefined ? path : [...path, segment], seen));
}

/** The schemas directly inside `schema`, with the path segment that leads to each (undefined: the same value). */
function children(schema: z.ZodType): Array<[PathSegment | undefined, z.ZodType]> {
  const def = defOf(schema);
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape as Record<string, z.ZodType>);
    case 'array':
      return [['[]', def.element as z.ZodType]];
    case 'record':
      return [['*', def.valueType as z.ZodType]];
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return [[undefined, def.innerType as z.ZodType]];
    case 'pipe':
      return [
        [undefined, def.in as z.ZodType],
        [undefined, def.out as z.ZodType],
      ];
    case 'union':
      return (def.options as z.ZodType[]).map((option) => [undefined, option]);
    case 'intersection':
      return [
        [undefined, def.left as z.ZodType],
        [undefined, def.right as z.ZodType],
      ];
    default:
      return [];
  }
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A copy of `value` (the config as loaded, or a user's raw input: anything that does not fit the
 * schema's shape is passed over) with `replace` applied to the value of every secret field.
 */
export function mapSecrets(fields: readonly SecretField[], value: unknown, replace: (secret: unknown, kind: SecretKind) => unknown): unknown {
  let out = value;
  for (const field of fields) out = mapAt(out, field.path, (v) => replace(v, field.kind));
  return out;
}

function mapAt(value: unknown, path: readonly PathSegment[], replace: (v: unknown) => unknown): unknown {
  if (value === undefined || value === null) return value;
  if (path.length === 0) return replace(value);
  const [head, ...rest] = path as [PathSegment, ...PathSegment[]];
  if (head === '[]') return Array.isArray(value) ? value.map((item) => mapAt(item, rest, replace)) : value;
  if (!isMapping(value)) return value;
  if (head === '*') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapAt(v, rest, replace)]));
  return Object.hasOwn(value, head) ? { ...value, [head]: mapAt(value[head], rest, replace) } : value;
}

/** What may be shown of a secret: `<redacted>`; a URL's scheme and host (all of it when that is all it has); a mapping's keys. */
export function redacted(value: unknown, kind: SecretKind): unknown {
  if (Array.isArray(value)) return value.map((v) => redacted(v, kind));
  if (isMapping(value)) return Object.fromEntries(Object.keys(value).map((k) => [k, redacted(value[k], kind)]));
  if (kind !== 'url' || typeof value !== 'string') return REDACTED;
  const origin = urlOrigin(value);
  if (origin === '(not a URL)') return REDACTED;
  return value === origin || value === `${origin}/` ? value : `${origin}/${REDACTED}`;
}

/** Every string (and number) a secret field holds, with a URL's pieces, for scrubbing text. */
export function secretValues(fields: readonly SecretField[], value: unknown): string[] {
  const found = new Set<string>();
  const collect = (v: unknown, kind: SecretKind): void => {
    if (Array.isArray(v)) v.forEach((item) => collect(item, kind));
    else if (isMapping(v)) Object.values(v).forEach((item) => collect(item, kind));
    else if (typeof v === 'string' && v !== '') (kind === 'url' ? urlSecretParts(v) : [v]).forEach((s) => found.add(s));
    else if (typeof v === 'number' || typeof v === 'bigint') found.add(String(v));
  };
  mapSecrets(fields, value, (v, kind) => (collect(v, kind), v));
  return [...found];
}

/** The key each secret field has in its parent (`url`, `hmacKey`, ...): the logger redacts fields so named. */
export const secretKeys = (fields: readonly SecretField[]): string[] => [
  ...new Set(fields.map((f) => f.path.filter((segment) => segment !== '[]' && segment !== '*').pop()).filter((k): k is string => k !== undefined)),
];

/** Tells every logger of the process the secret field names and values of `value` (a config as loaded or as written). */
export function protectConfigSecrets(fields: readonly SecretField[], value: unknown): void {
  protectSecrets({ keys: secretKeys(fields), values: secretValues(fields, value) });
}

/** The secret field an issue's path (`['notify', 'webhooks', 0, 'url']`) is in, if any. */
function fieldOf(fields: readonly SecretField[], path: readonly PropertyKey[]): SecretField | undefined {
  return fields.find(
    (f) =>
      f.path.length <= path.length && f.path.every((segment, i) => segment === '*' || (segment === '[]' ? typeof path[i] === 'number' : segment === path[i])),
  );
}

const valueAt = (input: unknown, path: readonly PropertyKey[]): unknown =>
  path.reduce<unknown>(
    (node, key) => (typeof node === 'object' && node !== null && Object.hasOwn(node, key) ? (node as Record<PropertyKey, unknown>)[key] : undefined),
    input,
  );

/**
 * The issue as an error may show it: every secret value of `input` replaced (a rule on a webhook
 * could quote its URL), and an issue about a secret field shows no value ("expected X, got Y"
 * loses ", got Y"; a URL keeps its scheme and host, the usual mistake being there). A mapping's
 * keys (header names) are not secret.
 */
export function secretIssue<T extends z.core.$ZodIssue>(fields: readonly SecretField[], input: unknown, issue: T): T {
  let message = scrub(issue.message, secretValues(fields, input));
  const field = fieldOf(fields, issue.path);
  if (field && issue.code !== 'invalid_key') {
    const value = valueAt(input, issue.path);
    const shown =
      field.kind === 'url' && typeof value === 'string' ? `, got ${JSON.stringify(redacted(value, 'url'))}` : ' (the value is not shown: it is secret)';
    message = message.replace(/, got [\s\S]*$/, shown);
  }
  return { ...issue, message };
}
