/**
 * The validators the build writes as code must judge every manifest exactly as the compiled ones do,
 * errors included (messages are built from them, with their parentSchema).
 */
import { readdirSync, readFileSync, statSync } from 'fs';
import { join } from 'path';
import { parseDocument } from 'yaml';
import type { ValidateFunction } from 'ajv';
import { MANIFEST_KINDS, manifestAjv, manifestSchemas, operatorAjv, validatorsKey, type ManifestKind } from './schemas';
import { generateValidators } from './validators-gen';

const LAB = join(__dirname, '..', '..', 'examples', 'lab');

function files(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.ya?ml$/.test(n)) out.push(p);
  }
  return out;
}

function kindOf(file: string): ManifestKind | undefined {
  if (file.endsWith('shipshape.yaml')) return 'site';
  if (file.endsWith('/os.yaml')) return 'os';
  if (file.endsWith('/role.yaml')) return 'role';
  return (['system', 'profile', 'environment'] as const).find((k) => file.includes(`/${k}s/`));
}

describe('generated manifest validators', () => {
  const code = generateValidators();
  const mod: Record<string, unknown> = {};
  // Evaluates the generated module as require would.
  new Function('require', 'module', 'exports', code)(require, { exports: mod }, mod);
  const ajv = manifestAjv();
  const schemas = manifestSchemas();
  const compiled = Object.fromEntries(MANIFEST_KINDS.map((k) => [k, ajv.compile(schemas[k])])) as Record<
    ManifestKind,
    ValidateFunction
  >;

  it('carry the key of the schemas they were made from', () => {
    expect(mod.key).toBe(validatorsKey());
    for (const k of MANIFEST_KINDS) expect(typeof mod[k]).toBe('function');
  });

  it('accept and reject the lab manifests, and broken variants of them, with the same errors', () => {
    const docs: [ManifestKind, unknown][] = [];
    for (const f of files(LAB)) {
      const kind = kindOf(f);
      if (!kind) continue;
      const value = parseDocument(readFileSync(f, 'utf8')).toJS() as Record<string, unknown>;
      docs.push([kind, value]);
      // Broken on purpose: a wrong type, an unknown key, a missing section.
      docs.push([kind, { ...value, spec: 'not a map' }]);
      docs.push([kind, { ...value, surprise: 1 }]);
      docs.push([kind, { ...value, spec: { ...(value.spec as object), cpu: 'many', network: { net: 7 } } }]);
      docs.push([kind, { apiVersion: value.apiVersion }]);
    }
    expect(docs.length).toBeGreaterThan(40);
    let rejected = 0;
    for (const [kind, value] of docs) {
      const fast = mod[kind] as ValidateFunction;
      const ok = fast(value);
      expect([kind, ok, fast.errors ?? null]).toEqual([kind, compiled[kind](value), compiled[kind].errors ?? null]);
      if (!ok) rejected++;
    }
    expect(rejected).toBeGreaterThan(30);
  });

  it('judge role params schemas as JSON Schemas exactly as ajv does, errors included', () => {
    const meta = mod.operatorMeta as ValidateFunction;
    const ajv = operatorAjv(true);
    const schemas: unknown[] = [];
    for (const f of files(LAB).filter((x) => x.endsWith('/role.yaml'))) {
      const params = (parseDocument(readFileSync(f, 'utf8')).toJS() as { spec: { params?: unknown } }).spec.params;
      if (params) schemas.push(params);
    }
    expect(schemas.length).toBeGreaterThan(2);
    // What a role author gets wrong: a misspelt type, a wrong keyword value, a broken pattern, a list for a map.
    schemas.push(
      { type: 'objekt' },
      { type: 'object', properties: { port: { type: 'integer', minimum: 'low' } } },
      { type: 'object', properties: { key: { type: 'string', pattern: '([' } } },
      { type: 'object', required: 'host' },
      { type: ['string', 5] },
      { properties: [] },
      { type: 'object', additionalProperties: false, properties: { x: { enum: [] } } },
    );
    let rejected = 0;
    for (const schema of schemas) {
      const ok = meta(schema);
      expect([ok, meta.errors ?? null]).toEqual([ajv.validateSchema(schema as object), ajv.errors ?? null]);
      if (!ok) rejected++;
    }
    expect(rejected).toBeGreaterThan(5);
  });
});
