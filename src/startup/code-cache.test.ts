/**
 * The code cache changes how fast modules load, never what they do: a second process compiles from the
 * cache, a damaged entry is compiled again, a syntax error reads as Node's own, and a cache dir others
 * may write is not used.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir } from '../../test/helpers/daemon';

const REGISTER = join(__dirname, '..', '..', 'test', 'helpers', 'ts-register.js');
const CODE_CACHE = join(__dirname, 'code-cache.ts');

let work: string;
let app: string;
beforeEach(() => {
  work = tempDir('code-cache');
  app = join(work, 'app');
  mkdirSync(join(app, 'lib'), { recursive: true });
  writeFileSync(
    join(app, 'main.js'),
    "const lib = require('./lib/answer');\nmodule.exports = { ...lib, where: __dirname, file: __filename, resolved: require.resolve('./lib/answer') };\n",
  );
  writeFileSync(
    join(app, 'lib', 'answer.js'),
    'exports.answer = [1, 2, 3].map((x) => x * 14).reduce((a, b) => a + b);\n',
  );
});
afterEach(() => removeDir(work));

/** A process that installs the cache, loads `entry` and prints what it exports with the cache's counts. */
function run(
  cacheDir: string,
  entry = join(app, 'main.js'),
): { out: Record<string, unknown>; err: string; status: number | null } {
  const script = `const c = require(${JSON.stringify(CODE_CACHE)}); c.installCodeCache(); const m = require(${JSON.stringify(entry)}); console.log(JSON.stringify({ ...m, stats: c.codeCacheStats() }));`;
  const r = spawnSync(process.execPath, ['-r', REGISTER, '-e', script], {
    env: { ...process.env, SHIPSHAPE_CACHE_DIR: cacheDir },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { out: r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : {}, err: r.stderr, status: r.status };
}

it('compiles a module from the cache in the next process, with the same exports, paths and require', () => {
  const cache = join(work, 'cache');
  const first = run(cache);
  expect(first.out).toMatchObject({
    answer: 84,
    where: app,
    file: join(app, 'main.js'),
    resolved: join(app, 'lib', 'answer.js'),
    stats: { cached: 0 },
  });
  expect((first.out.stats as { compiled: number }).compiled).toBeGreaterThanOrEqual(2);
  const second = run(cache);
  expect(second.out).toEqual({
    ...first.out,
    stats: { cached: (first.out.stats as { compiled: number }).compiled, compiled: 0 },
  });
});

it('compiles a damaged entry again and rewrites it', () => {
  const cache = join(work, 'cache');
  const first = run(cache);
  const dir = readdirSync(cache)
    .map((d) => join(cache, d))
    .find((d) => d.includes('v8-code'))!;
  for (const f of readdirSync(dir)) writeFileSync(join(dir, f), 'not V8 code');
  const second = run(cache);
  expect(second.out).toMatchObject({
    answer: 84,
    stats: { compiled: (first.out.stats as { compiled: number }).compiled },
  });
  expect(run(cache).out).toMatchObject({ answer: 84, stats: { compiled: 0 } });
});

it('leaves a syntax error to Node: file, line and message as without the cache', () => {
  writeFileSync(join(app, 'lib', 'answer.js'), 'exports.answer = (1 + ;\n');
  const r = run(join(work, 'cache'));
  expect(r.status).not.toBe(0);
  expect(r.err).toContain(`${join(app, 'lib', 'answer.js')}:1`);
  expect(r.err).toContain('SyntaxError: Unexpected token');
});

it('does not use a cache dir that others may write', () => {
  const cache = join(work, 'shared');
  mkdirSync(cache, { mode: 0o777 });
  chmodSync(cache, 0o777);
  expect(run(cache).out).toMatchObject({ answer: 84, stats: { cached: 0, compiled: 0 } });
  expect(readdirSync(cache)).toEqual([]);
});

it('is off when SHIPSHAPE_CACHE_DIR is empty', () => {
  expect(run('').out).toMatchObject({ answer: 84, stats: { cached: 0, compiled: 0 } });
});
