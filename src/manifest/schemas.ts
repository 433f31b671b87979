/**
 * The JSON Schemas in schemas/ are the one source of truth for the manifest format. This module compiles
 * them once (ajv 8, draft-07) and validates parsed documents, turning ajv errors into located sentences.
 */
import { createHash } from 'crypto';
import { readFileSync } from 'fs';
import { join } from 'path';
import type Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import draft7 from 'ajv/dist/refs/json-schema-draft-07.json';
import ajvPackage from 'ajv/package.json';
import ajvFormatsPackage from 'ajv-formats/package.json';
import commonSchema from '../../schemas/common.schema.json';
import systemSchema from '../../schemas/system.schema.json';
import profileSchema from '../../schemas/profile.schema.json';
import siteSchema from '../../schemas/site.schema.json';
import osSchema from '../../schemas/os.schema.json';
import roleSchema from '../../schemas/role.schema.json';
import environmentSchema from '../../schemas/environment.schema.json';
import { BACKENDS } from '../providers/backends';
import type { AnyBackend, BackendKind } from '../providers/plugin';
import type { Diagnostics } from './diagnostics';
import { reportAjvErrors } from './ajv-messages';
import { uri } from './uri-format';
import type { ParsedFile } from './yaml-file';
import { cacheDir, writeCacheFile } from '../startup/cache-dir';

/**
 * ajv and ajv-formats, loaded only when a schema is compiled: a run whose validators are all code already
 * (validators.generated.js, role params schemas cached below) never loads them.
 */
function ajvModules(): {
  Ajv: typeof Ajv;
  _: typeof import('ajv')._;
  addFormats: typeof import('ajv-formats').default;
} {
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use, see above */
  const ajv = require('ajv') as typeof import('ajv');
  return {
    Ajv: ajv.default,
    _: ajv._,
    addFormats: (require('ajv-formats') as typeof import('ajv-formats')).default,
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
}

export type ManifestKind = 'system' | 'profile' | 'site' | 'os' | 'role' | 'environment';

export const SCHEMAS: Record<ManifestKind | 'common', object> = {
  common: commonSchema,
  system: systemSchema,
  profile: profileSchema,
  site: siteSchema,
  os: osSchema,
  role: roleSchema,
  environment: environmentSchema,
};

/** Annotation keywords our schemas carry for messages: `x-shape` (what a value must look like), `x-secret`. */
function addAnnotations(ajv: Ajv): void {
  ajv.addKeyword({ keyword: 'x-shape', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'x-secret', schemaType: 'boolean' });
  ajv.addKeyword({ keyword: 'x-backends', schemaType: 'string' });
}

type Json = Record<string, unknown>;

/**
 * A backend section of the site schema (marked `x-backends: <kind>`), composed with the schemas of
 * that kind's backends: `backend` must name one of them, and the section then holds exactly the keys
 * of the site schema's section (`backend`, a zone's `name` …) plus the chosen backend's own.
 */
function composeSection(section: Json, backends: readonly AnyBackend[]): Json {
  const kind = section['x-backends'] as BackendKind;
  const mine = backends.filter((b) => b.kind === kind);
  const common = (section.properties ?? {}) as Json;
  const ids = mine.map((b) => b.id);
  return {
    ...section,
    properties: { ...common, backend: { enum: ids, 'x-shape': ids.map((i) => `\`${i}\``).join(', ') } },
    allOf: mine.map((b) => ({
      if: { properties: { backend: { const: b.id } }, required: ['backend'] },
      then: {
        ...b.schema,
        properties: {
          ...Object.fromEntries(Object.keys(common).map((k) => [k, true])),
          ...(b.schema.properties as Json),
        },
      },
    })),
  };
}

/** The site schema with every backend's schema composed in (schemas/site.schema.json + each backend folder's schema.json). */
export function composedSiteSchema(backends: readonly AnyBackend[] = BACKENDS): Json {
  const defs = { ...((siteSchema as Json).definitions as Record<string, Json>) };
  for (const [name, def] of Object.entries(defs))
    if (typeof def['x-backends'] === 'string') defs[name] = composeSection(def, backends);
  return { ...(siteSchema as Json), definitions: defs };
}

/** The module generated validators require for `format:` checks (in the validators' folder, as they are). */
const MANIFEST_FORMATS_MODULE = './uri-format';
const MANIFEST_AJV = { allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false };
export const MANIFEST_KINDS: readonly ManifestKind[] = ['system', 'profile', 'site', 'os', 'role', 'environment'];

/** The ajv instance the manifest schemas are compiled with (`source`: keep the code for standalone output). */
export function manifestAjv(source = false): Ajv {
  const { Ajv, _, addFormats } = ajvModules();
  // Generated validators take their format checks from uri-format.ts (ajv-formats' own with a quicker `uri`), beside them.
  const formats = _`require(${MANIFEST_FORMATS_MODULE}).manifestFormats`;
  const ajv = new Ajv({ ...MANIFEST_AJV, code: { ...(source ? { source: true } : {}), formats } });
  addFormats(ajv);
  ajv.addFormat('uri', uri);
  addAnnotations(ajv);
  ajv.addSchema(commonSchema);
  return ajv;
}

/** Each kind's schema as compiled (the site's with the backends composed in). */
export function manifestSchemas(): Record<ManifestKind, Json> {
  return { ...(SCHEMAS as Record<ManifestKind, Json>), site: composedSiteSchema() };
}

/**
 * Names exactly what the validators are compiled from (ajv and its options, every schema): validators
 * generated at build time (validators-gen.ts) are used only when their key is this one.
 */
export function validatorsKey(schemas: Record<ManifestKind, Json> = manifestSchemas()): string {
  const versions = [ajvPackage.version, ajvFormatsPackage.version];
  return createHash('sha256')
    .update(
      JSON.stringify([
        versions,
        MANIFEST_AJV,
        MANIFEST_FORMATS_MODULE,
        commonSchema,
        MANIFEST_KINDS.map((k) => schemas[k]),
        OPERATOR_AJV,
        draft7,
      ]),
    )
    .digest('hex');
}

/** The draft-07 meta-schema's id: what an operator's schema without `$schema` is checked against. */
export const DRAFT7_ID = draft7.$id;

let compiled: Record<ManifestKind, ValidateFunction> | undefined;
let operatorMeta: ValidateFunction | undefined;

/**
 * The build writes the compiled validators as code (validators.generated.js beside this module): loading
 * it costs a few milliseconds where compiling the schemas (the site's with every backend) costs hundreds.
 * Without it, or when the schemas changed since (its key differs), they are compiled here, once per process.
 */
function precompiled(): Record<ManifestKind, ValidateFunction> | undefined {
  let mod: { key?: string } & Partial<Record<ManifestKind, ValidateFunction>>;
  try {
    // A plain require: the file is optional and only exists in a build; eslint's rule is about static imports.
    // By its full path: inside the CLI's bundle a relative require would start from the bundle's folder.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(join(__dirname, GENERATED)) as typeof mod;
  } catch {
    return undefined;
  }
  if (mod.key !== validatorsKey() || MANIFEST_KINDS.some((k) => typeof mod[k] !== 'function')) return undefined;
  const meta = (mod as { operatorMeta?: unknown }).operatorMeta;
  if (typeof meta === 'function') operatorMeta = meta as ValidateFunction;
  return mod as Record<ManifestKind, ValidateFunction>;
}

/** The generated validators' module, beside this one (also in dist/ after `npm run build`). */
export const GENERATED = './validators.generated.js';

function validators(): Record<ManifestKind, ValidateFunction> {
  if (!compiled) {
    compiled = precompiled();
    if (!compiled) {
      const ajv = manifestAjv();
      const schemas = manifestSchemas();
      compiled = Object.fromEntries(MANIFEST_KINDS.map((k) => [k, ajv.compile(schemas[k])])) as Record<
        ManifestKind,
        ValidateFunction
      >;
    }
  }
  return compiled;
}

/** Validates a parsed file against its kind's schema; reports every problem; true when valid. */
export function validateAgainstSchema(kind: ManifestKind, pf: ParsedFile, diags: Diagnostics): boolean {
  const validate = validators()[kind];
  if (validate(pf.value)) return true;
  reportAjvErrors(validate.errors ?? [], pf, [], diags);
  return false;
}

let operator: Ajv | undefined;
const operatorCache = new Map<string, ValidateFunction>();
/**
 * `optimize: false`: a role's schema validates a handful of values; ajv's code optimisation pass cost more
 * than it saved. `source`: the code is kept (compileOperatorSchema, validators-gen.ts).
 */
const OPERATOR_AJV = { allErrors: true, verbose: true, strict: false, code: { optimize: false, source: true } };

/**
 * An ajv instance for schemas written by operators (role params). Not strict: a role author's schema may use
 * keywords we do not know; it must still compile. `source`: a new instance of its own (validators-gen.ts).
 */
export function operatorAjv(source = false): Ajv {
  if (source || !operator) {
    const { Ajv, addFormats } = ajvModules();
    const ajv = new Ajv(OPERATOR_AJV);
    addFormats(ajv);
    addAnnotations(ajv);
    if (source) return ajv;
    operator = ajv;
  }
  return operator;
}

/**
 * Why an operator's schema (role params) is no JSON Schema: ajv's meta-schema errors, or undefined when it
 * is one. A schema without `$schema` (draft-07, the default) is checked by the meta-schema validator the
 * build generated when it is there (compiling the meta-schema cost a tenth of a second at each start);
 * the same errors either way (validators-gen.test.ts).
 */
export function operatorSchemaErrors(schema: Record<string, unknown>): ErrorObject[] | undefined {
  validators();
  if (operatorMeta && schema.$schema === undefined)
    return operatorMeta(schema) ? undefined : (operatorMeta.errors ?? []);
  const ajv = operatorAjv();
  return ajv.validateSchema(schema) ? undefined : (ajv.errors ?? []);
}

/**
 * Compiles an operator's schema, reusing the compiled validator for identical schemas: ajv generates code
 * per compile (~20 ms), and every load (watch mode, tests) sees the same role schemas again. Across
 * processes the code is kept in the cache dir (startup/cache-dir.ts), named by the hash of the schema,
 * ajv's version and options: a later start evaluates it instead of loading ajv and compiling again
 * (validators-gen.test.ts: the same answers and errors).
 */
export function compileOperatorSchema(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let fn = operatorCache.get(key);
  if (!fn) {
    const file = operatorCodeFile(key);
    fn = (file && keptOperatorCode(file)) || operatorAjv().compile(schema);
    if (file && fn.source) keepOperatorCode(file, fn);
    if (operatorCache.size >= 1000) operatorCache.clear(); // bounded: a long-running watcher must not grow forever
    operatorCache.set(key, fn);
  }
  return fn;
}

/** The cache file of a params schema's validator (`key`: the schema as JSON), or undefined without a cache dir. */
function operatorCodeFile(key: string): string | undefined {
  const dir = cacheDir('role-params');
  if (!dir) return undefined;
  const versions = [ajvPackage.version, ajvFormatsPackage.version];
  const hash = createHash('sha256')
    .update(JSON.stringify([versions, OPERATOR_AJV, key]))
    .digest('hex');
  return join(dir, `${hash}.js`);
}

/** A validator kept by an earlier process; undefined when there is none or it does not evaluate (then it is compiled again). */
function keptOperatorCode(file: string): ValidateFunction | undefined {
  let code: string;
  try {
    code = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const mod: { exports: unknown } = { exports: {} };
    // ajv's standalone module: it requires ajv's runtime helpers and ajv-formats' formats, found from here.
    new Function('require', 'module', 'exports', code)(require, mod, mod.exports);
    return typeof mod.exports === 'function' ? (mod.exports as ValidateFunction) : undefined;
  } catch {
    return undefined;
  }
}

function keepOperatorCode(file: string, fn: ValidateFunction): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- only when a schema was compiled
    const standalone = (require('ajv/dist/standalone') as typeof import('ajv/dist/standalone')).default;
    writeCacheFile(file, standalone(operatorAjv(), fn));
  } catch {
    // Not kept: the next start compiles it again.
  }
}
