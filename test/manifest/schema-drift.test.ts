/**
 * schemas/*.json are the one source of truth. This test generates TypeScript from them
 * (json-schema-to-typescript), compiles it next to src/manifest/{raw,types,site}.ts with the real
 * compiler, and compares the types structurally. A field added, removed, renamed, made optional or
 * retyped on one side only fails here.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { compile } from 'json-schema-to-typescript';
import * as ts from 'typescript';
import { bundle, readSchema } from './schema-bundle';
import { canonical, keyTree, leafTypeDiff, leafTypes, treeDiff } from './type-shape';
import type { KeyTree } from './type-shape';

// json-schema-to-typescript requires prettier at load time; prettier 3 then starts dynamic imports that
// jest's CommonJS sandbox refuses. We generate with `format: false`, so prettier is never called.
jest.mock('prettier', () => ({ format: (code: string) => code }));

const KINDS = [
  ['system', 'SystemManifest'],
  ['profile', 'ProfileManifest'],
  ['site', 'SiteManifest'],
  ['os', 'OsManifest'],
  ['role', 'RoleManifest'],
  ['environment', 'EnvironmentManifest'],
] as const;
const SRC = path.join(__dirname, '..', '..', 'src', 'manifest');

interface Checked {
  errors: string[];
  checker: ts.TypeChecker;
  types: Map<string, ts.Type>;
}

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))));

/** Generates types from the given schemas and type-checks them together with the hand-written ones. */
async function check(schemas: Record<string, Record<string, unknown>>): Promise<Checked> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-drift-'));
  dirs.push(dir);
  const lines = [
    `import type * as Raw from ${JSON.stringify(path.join(SRC, 'raw'))};`,
    `import type { DesiredSystem } from ${JSON.stringify(path.join(SRC, 'types'))};`,
    `import type { SiteConfig } from ${JSON.stringify(path.join(SRC, 'site'))};`,
  ];
  for (const [kind, name] of KINDS) {
    const code = await compile(bundle(schemas[kind]) as never, name, {
      bannerComment: '',
      format: false,
      ignoreMinAndMaxItems: true,
      unknownAny: true,
    });
    await fs.writeFile(path.join(dir, `gen-${kind}.ts`), code);
    lines.push(`import type * as G_${kind} from './gen-${kind}';`);
    lines.push(
      `export declare const gen_${kind}: G_${kind}.${name};`,
      `export declare const raw_${kind}: Raw.${name};`,
    );
  }
  lines.push(
    `export declare const gen_desired: G_system.SystemManifest['metadata'] & G_system.SystemManifest['spec'];`,
    'export declare const desired: DesiredSystem;',
    `export declare const gen_siteconfig: G_site.SiteManifest['spec'];`,
    'export declare const siteconfig: SiteConfig;',
  );
  const file = path.join(dir, 'check.ts');
  await fs.writeFile(file, lines.join('\n'));
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
  });
  const errors = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  const checker = program.getTypeChecker();
  const types = new Map<string, ts.Type>();
  for (const st of program.getSourceFile(file)!.statements) {
    if (ts.isVariableStatement(st))
      for (const d of st.declarationList.declarations) types.set(d.name.getText(), checker.getTypeAtLocation(d.name));
  }
  return { errors, checker, types };
}

function schemas(): Record<string, Record<string, unknown>> {
  return Object.fromEntries(KINDS.map(([k]) => [k, readSchema(k)]));
}

/** Differences between raw manifest types and generated ones, per kind. */
function rawDrift(c: Checked): string[] {
  return KINDS.flatMap(([kind]) => {
    const gen = canonical(c.checker, c.types.get(`gen_${kind}`)!);
    const raw = canonical(c.checker, c.types.get(`raw_${kind}`)!);
    return gen === raw ? [] : [`${kind}:\n  schema: ${gen}\n  raw.ts: ${raw}`];
  });
}

const LEAVES = new Set(['SecretRef']);
function tree(c: Checked, name: string): KeyTree {
  return keyTree(c.checker, c.types.get(name)!, LEAVES);
}

describe('schemas and TypeScript types stay in step', () => {
  let current: Checked;
  beforeAll(async () => {
    current = await check(schemas());
  });

  it('the generated types compile', () => {
    expect(current.errors).toEqual([]);
  });

  it('src/manifest/raw.ts matches every schema exactly (keys, optionality, value types)', () => {
    expect(rawDrift(current)).toEqual([]);
  });

  it('DesiredSystem (types.ts) has exactly the schema’s metadata and spec fields, plus file, sources and what environments add', () => {
    const d = treeDiff(tree(current, 'gen_desired'), tree(current, 'desired'));
    expect(d).toEqual({ onlyA: [], onlyB: ['dependsOn', 'environment', 'file', 'sources'] });
  });

  it('SiteConfig (site.ts) has exactly the schema’s spec fields, plus root, the site’s file and each net’s title', () => {
    const d = treeDiff(tree(current, 'gen_siteconfig'), tree(current, 'siteconfig'));
    expect(d).toEqual({ onlyA: [], onlyB: ['file', 'nets.*.title', 'root'] });
  });

  it('DesiredSystem and SiteConfig fields have the schema’s value types', () => {
    const leaves = (name: string) => leafTypes(current.checker, current.types.get(name)!, LEAVES);
    expect(leafTypeDiff(leaves('gen_desired'), leaves('desired'))).toEqual([
      'dependsOn[]: (none) ≠ string',
      'environment.name: (none) ≠ string',
      'environment.systems[]: (none) ≠ string',
      'file: (none) ≠ string',
      'sources.*.col: (none) ≠ number',
      'sources.*.file: (none) ≠ string',
      'sources.*.line: (none) ≠ number',
    ]);
    expect(leafTypeDiff(leaves('gen_siteconfig'), leaves('siteconfig'))).toEqual([
      'file: (none) ≠ string',
      'nets.*.title: (none) ≠ string',
      'root: (none) ≠ string',
    ]);
    // the comparison covers the fields that matter (not vacuously empty)
    expect(leaves('desired').get('cpu')).toBe('number');
    expect(leaves('desired').get('lifecycle.vmOnDelete')).toBe('"destroy" | "poweroff-keep"');
    expect(leaves('siteconfig').get('nets.*.cidr')).toBe('string');
    expect(leaves('siteconfig').get('vms.backend')).toBe('string');
  });

  it('fails when a field’s value type changes in the schema', async () => {
    const s = schemas();
    const net = (
      s.site.properties as Record<
        string,
        { properties: Record<string, { additionalProperties: { properties: Record<string, unknown> } }> }
      >
    ).spec.properties.nets;
    net.additionalProperties.properties.dnsServers = { type: 'string' };
    net.additionalProperties.properties.gateway = { type: 'integer' };
    const drifted = await check(s);
    const leaves = (name: string) => leafTypes(drifted.checker, drifted.types.get(name)!, LEAVES);
    expect(leafTypeDiff(leaves('gen_siteconfig'), leaves('siteconfig')).filter((d) => d.startsWith('nets'))).toEqual([
      'nets.*.dnsServers: string ≠ (none)',
      'nets.*.dnsServers[]: (none) ≠ string',
      'nets.*.gateway: number ≠ string',
      'nets.*.title: (none) ≠ string',
    ]);
    expect(treeDiff(tree(drifted, 'gen_siteconfig'), tree(drifted, 'siteconfig'))).toEqual({
      onlyA: [],
      onlyB: ['file', 'nets.*.title', 'root'],
    });
  });

  it('fails when a schema gains a field the types lack', async () => {
    const s = schemas();
    const spec = (s.system.properties as Record<string, { properties: Record<string, unknown> }>).spec;
    spec.properties.cpuShares = { type: 'integer' };
    const drifted = await check(s);
    expect(rawDrift(drifted).join('\n')).toContain('cpuShares?: number');
    expect(treeDiff(tree(drifted, 'gen_desired'), tree(drifted, 'desired')).onlyA).toEqual(['cpuShares']);
  });

  it('fails when a schema stops refusing unknown keys', async () => {
    const s = schemas();
    const net = (
      s.site.properties as Record<
        string,
        { properties: Record<string, { additionalProperties: Record<string, unknown> }> }
      >
    ).spec.properties.nets;
    delete net.additionalProperties.additionalProperties;
    expect(rawDrift(await check(s)).join('\n')).toContain('[k]: unknown');
  });

  it('fails when a field changes type or optionality', async () => {
    const s = schemas();
    const osSpec = (s.os.properties as Record<string, { required: string[]; properties: Record<string, unknown> }>)
      .spec;
    osSpec.required = ['family', 'installer'];
    osSpec.properties.release = { type: 'integer' };
    const drift = rawDrift(await check(s)).join('\n');
    expect(drift).toContain('release?: number');
    expect(drift).toContain('release: string');
  });
});
