/**
 * Inlines the cross-file `$ref`s of schemas/*.json so json-schema-to-typescript sees one self-contained
 * schema, and rewrites `if/then/else` into the union it means for typing (ajv evaluates the real thing).
 */
import * as fs from 'fs';
import * as path from 'path';

export const SCHEMA_DIR = path.join(__dirname, '..', '..', 'schemas');

type Json = { [k: string]: unknown };

export function readSchema(name: string): Json {
  return JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, `${name}.schema.json`), 'utf8')) as Json;
}

function resolveRef(ref: string, self: Json, common: Json): { node: Json; ctx: Json } {
  const [file, pointer] = ref.split('#');
  const ctx = file === '' ? self : file === 'common.schema.json' ? common : undefined;
  if (!ctx) throw new Error(`unexpected $ref ${ref}`);
  let node: unknown = ctx;
  for (const seg of pointer.split('/').filter(Boolean)) node = (node as Json)[seg];
  if (node === undefined) throw new Error(`dangling $ref ${ref}`);
  return { node: node as Json, ctx };
}

export function bundle(schema: Json, common: Json = readSchema('common')): Json {
  const walk = (node: unknown, ctx: Json): unknown => {
    if (Array.isArray(node)) return node.map((n) => walk(n, ctx));
    if (typeof node !== 'object' || node === null) return node;
    let n = node as Json;
    if (typeof n.$ref === 'string') {
      const r = resolveRef(n.$ref, ctx, common);
      return walk(r.node, r.ctx);
    }
    if (n.if !== undefined) {
      const { if: _if, then, else: otherwise, ...rest } = n;
      void _if;
      const typed = (s: unknown) => typeof s === 'object' && s !== null && 'type' in (s as Json);
      n = typed(then) && typed(otherwise) ? { ...rest, anyOf: [then, otherwise] } : rest;
    }
    const out: Json = {};
    for (const [k, v] of Object.entries(n)) {
      if (k === 'definitions' || k === '$id' || k === '$schema' || k.startsWith('x-')) continue;
      out[k] =
        k === 'properties'
          ? Object.fromEntries(Object.entries(v as Json).map(([pk, pv]) => [pk, walk(pv, ctx)]))
          : walk(v, ctx);
    }
    return out;
  };
  return walk(schema, schema) as Json;
}
