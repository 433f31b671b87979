/** Parses of manifests the fast reader cannot read, kept in the cache dir between processes. */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'node:v8';
import { Diagnostics } from './diagnostics';
import { locate, parseManifest } from './yaml-file';

// Block scalars and an anchor: outside yaml-fast.ts's subset, so the `yaml` package reads it.
const TEXT = `apiVersion: shipshape.dev/v1
kind: Role
metadata: { name: web }
spec:
  server: &s { host: ns1.example.org, port: 53 }
  again: *s
  limit: .inf
  steps:
    - script: |
        echo "first line"
        exit 0
`;

let cache: string;
const before = process.env.SHIPSHAPE_CACHE_DIR;
beforeEach(() => {
  cache = mkdtempSync(join(tmpdir(), 'parse-cache-'));
  process.env.SHIPSHAPE_CACHE_DIR = cache;
});
afterEach(() => {
  if (before === undefined) delete process.env.SHIPSHAPE_CACHE_DIR;
  else process.env.SHIPSHAPE_CACHE_DIR = before;
  rmSync(cache, { recursive: true, force: true });
});
const entries = () => readdirSync(join(cache, 'yaml-parse'));

test('a parse the yaml package made is kept, and the next parse of that text is the same value, aliases and positions included', () => {
  const diags = new Diagnostics();
  const first = parseManifest('roles/web/role.yaml', TEXT, diags)!;
  expect(diags.list).toEqual([]);
  expect(entries()).toHaveLength(1);
  const again = parseManifest('roles/web/role.yaml', TEXT, diags)!;
  expect(again).toEqual(first);
  const spec = (again.value as { spec: Record<string, unknown> }).spec;
  expect(spec.again).toBe(spec.server); // one object, as yaml gives an alias
  expect(spec.limit).toBe(Infinity);
  expect((spec.steps as { script: string }[])[0]!.script).toBe('echo "first line"\nexit 0\n');
  // A path through the alias points where the anchored node is written.
  expect(locate(again, ['spec', 'again', 'port'])).toEqual({ file: 'roles/web/role.yaml', line: 5, col: 45 });
  expect(locate(again, ['spec', 'steps', 0, 'script'])).toEqual(locate(first, ['spec', 'steps', 0, 'script']));
});

test('the kept parse is what the next process reads; an entry that cannot be read is parsed again', () => {
  parseManifest('roles/web/role.yaml', TEXT, new Diagnostics());
  const [name] = entries();
  const file = join(cache, 'yaml-parse', name!);
  writeFileSync(file, serialize({ tree: { at: 0 }, lineStarts: [0], value: { kept: true } }));
  expect(parseManifest('roles/web/role.yaml', TEXT, new Diagnostics())!.value).toEqual({ kept: true });
  writeFileSync(file, 'not what V8 wrote');
  const parsed = parseManifest('roles/web/role.yaml', TEXT, new Diagnostics())!;
  expect((parsed.value as { kind: string }).kind).toBe('Role');
});

test('a text with a problem is not kept: every run reports it again', () => {
  const text = `${TEXT}kind: Again\n`;
  for (let i = 0; i < 2; i++) {
    const diags = new Diagnostics();
    expect(parseManifest('roles/web/role.yaml', text, diags)).toBeUndefined();
    expect(diags.list.map((d) => d.message)).toEqual(['duplicate key `kind`: a key may appear only once in a map']);
  }
  expect(entries()).toEqual([]);
});
