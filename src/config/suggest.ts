/**
 * "Did you mean" for an unknown config key: the keys a schema accepts at the same place, and the
 * nearest of them by edit distance (sanity.ts's `nearest`). Walks the zod schema through its
 * wrappers (optional, default, a parsed field's pipe), lists, records and unions (an issuer is
 * one of several shapes: their keys together). Pure.
 */
import type { z } from 'zod';
import { nearest } from './sanity';

type Node = z.core.$ZodType;

/** The shapes a node stands for, wrappers and unions opened. */
function expand(node: Node): Node[] {
  const def = node._zod.def;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
      return expand((def as z.core.$ZodOptionalDef).innerType);
    case 'pipe':
      return expand((def as z.core.$ZodPipeDef).in);
    case 'union':
      return (def as z.core.$ZodUnionDef).options.flatMap(expand);
    default:
      return [node];
  }
}

function children(node: Node, key: PropertyKey): Node[] {
  const def = node._zod.def;
  if (def.type === 'object') {
    const shape = (def as z.core.$ZodObjectDef).shape;
    return typeof key === 'string' && key in shape ? [shape[key]!] : [];
  }
  if (def.type === 'array') return [(def as z.core.$ZodArrayDef).element];
  if (def.type === 'record') return [(def as z.core.$ZodRecordDef).valueType];
  return [];
}

/** The keys `schema` accepts in the mapping at `path`. */
export function keysAt(schema: Node, path: readonly PropertyKey[]): string[] {
  let nodes = expand(schema);
  for (const key of path) nodes = nodes.flatMap((n) => children(n, key)).flatMap(expand);
  const keys = nodes.flatMap((n) => (n._zod.def.type === 'object' ? Object.keys((n._zod.def as z.core.$ZodObjectDef).shape) : []));
  return [...new Set(keys)];
}

/** The known key nearest to `unknown` at `path`, when it is close enough to be a typo. */
export function suggestKey(schema: Node, path: readonly PropertyKey[], unknown: string): string | undefined {
  return nearest(unknown, keysAt(schema, path));
}
