/**
 * The validators the build writes as code must judge every manifest exactly as the compiled ones do,
 * errors included (messages are built from them, with their parentSchema).
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'fs';
import { join } from 'path';
import { removeDir, tempDir } from '../../test/helpers/daemon';
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

  it('keep role params validators as code in the cache dir: a later process judges values alike, errors included', () => {
    const cache = tempDir('params-cache');
    const before = process.env.SHIPSHAPE_CACHE_DIR;
    process.env.SHIPSHAPE_CACHE_DIR = cache;
    try {
      const schema = {
        type: 'object',
        required: ['host', 'port'],
        additionalProperties: false,
        properties: {
          host: { type: 'string', format: 'hostname' },
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          admin: { type: 'string', format: 'email' },
          since: { type: 'string', format: 'date-time' },
          tier: { enum: ['web', 'db'] },
          tags: { type: 'array', items: { type: 'string', pattern: '^[a-z]+$' }, maxItems: 2 },
        },
      };
      const values = [
        { host: 'db-01.example.org', port: 5432 },
        { host: 'db-01.example.org', port: 5432, admin: 'ops@example.org', since: '2026-01-02T03:04:05Z', tier: 'db' },
        { host: 'not a host!', port: 0, admin: 'nobody', since: 'yesterday', tier: 'cache', tags: ['A', 'b', 'c'] },
        { port: '5432', extra: true },
        'not a map',
      ];
      const load = () => {
        let fn: ValidateFunction | undefined;
        // A module of its own each time: as a new process, it has only the cache dir to go by.
        jest.isolateModules(() => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh module instance
          fn = (require('./schemas') as typeof import('./schemas')).compileOperatorSchema(schema);
        });
        return fn!;
      };
      const compiled = load();
      expect(compiled.source).toBeDefined(); // compiled by ajv, and kept
      const dir = join(cache, 'role-params');
      expect(readdirSync(dir)).toHaveLength(1);
      const kept = load();
      expect(kept.source).toBeUndefined(); // read from the cache
      let rejected = 0;
      for (const v of values) {
        const ok = kept(v);
        expect([ok, kept.errors ?? null]).toEqual([compiled(v), compiled.errors ?? null]);
        if (!ok) rejected++;
      }
      expect(rejected).toBe(3);
      // A damaged entry is compiled again and rewritten.
      writeFileSync(join(dir, readdirSync(dir)[0]!), 'module.exports = (');
      expect(load().source).toBeDefined();
      expect(load().source).toBeUndefined();
    } finally {
      if (before === undefined) delete process.env.SHIPSHAPE_CACHE_DIR;
      else process.env.SHIPSHAPE_CACHE_DIR = before;
      removeDir(cache);
    }
  });
});
