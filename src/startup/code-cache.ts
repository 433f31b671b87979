/**
 * V8 code cache for the CommonJS modules a shipshape process loads (Node 20 has no
 * `module.enableCompileCache`). Compiling the ~400 modules of a `plan` (ours and node_modules') was a
 * large part of every start: each module is compiled here by `vm.Script` with the code V8 produced for it
 * in an earlier process (`cachedData`), and what a process compiled afresh is written at its exit, after
 * it ran (so functions compiled lazily during the run are in the cache too).
 *
 * A cache entry is named by the hash of the module's path and full text, in a folder per V8 version and
 * architecture: an edited or upgraded module is another entry, and V8 itself refuses data made with
 * other flags (then the module is compiled as usual and its entry written again). Anything this cannot
 * handle (an ES module, a text V8 will not compile as a function body) goes to Node's own compile, so
 * errors read exactly as without the cache. Imports only Node's own modules: it is installed before
 * anything else is loaded (bin/shipshape).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import vm from 'node:vm';
import { cacheDir, writeCacheFile } from './cache-dir';

interface CjsModule {
  exports: unknown;
  require(id: string): unknown;
}
type Compile = (this: CjsModule, content: string, filename: string, format?: string) => unknown;
interface ModuleInternals {
  prototype: { _compile: Compile };
  _resolveFilename(request: string, parent: CjsModule, isMain: boolean, options?: unknown): string;
  _resolveLookupPaths(request: string, parent: CjsModule): string[] | null;
  _extensions: unknown;
  _cache: unknown;
  wrap(content: string): string;
}

/** More entries than this in the folder (left by earlier versions) and it is emptied before writing. */
const MAX_ENTRIES = 4000;

let installed = false;
/** Modules of this process compiled from the cache, and compiled afresh (their entries written at exit). */
const stats = { cached: 0, compiled: 0 };

export function codeCacheStats(): { cached: number; compiled: number } {
  return { ...stats };
}

/** Hooks CommonJS compilation for the rest of this process; does nothing when the cache dir is off or unsafe. */
export function installCodeCache(): void {
  if (installed) return;
  const dir = cacheDir(`v8-code-${process.versions.v8}-${process.arch}`);
  if (!dir) return;
  installed = true;
  const M = Module as unknown as ModuleInternals;
  const nodeCompile = M.prototype._compile;
  const fresh: { script: vm.Script; file: string }[] = [];
  M.prototype._compile = function (content, filename, format) {
    // ES modules (require(esm)), JSON-like extensions and shebang texts: Node's own path.
    if ((format !== undefined && format !== 'commonjs') || !filename.endsWith('.js') || content.startsWith('#!'))
      return nodeCompile.apply(this, [content, filename, format]);
    const file = join(dir, createHash('sha1').update(filename).update('\0').update(content).digest('hex'));
    let cachedData: Buffer | undefined;
    try {
      cachedData = readFileSync(file);
    } catch {
      cachedData = undefined;
    }
    let script: vm.Script;
    try {
      script = new vm.Script(M.wrap(content), {
        filename,
        ...(cachedData ? { cachedData } : {}),
        importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
      });
    } catch {
      return nodeCompile.apply(this, [content, filename, format]); // Node reports the syntax error its own way
    }
    if (!cachedData || script.cachedDataRejected) fresh.push({ script, file });
    else stats.cached++;
    stats.compiled = fresh.length;
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, requireFor(M, this), this, filename, dirname(filename));
  };
  process.once('exit', () => {
    if (!fresh.length) return;
    try {
      const old = readdirSync(dir);
      if (old.length + fresh.length > MAX_ENTRIES) for (const f of old) rmSync(join(dir, f), { force: true });
    } catch {
      return;
    }
    for (const { script, file } of fresh) writeCacheFile(file, script.createCachedData());
  });
}

/** The `require` a module's code receives, as Node builds it (resolve, main, extensions, cache). */
function requireFor(M: ModuleInternals, mod: CjsModule): NodeJS.Require {
  const req = ((id: string) => mod.require(id)) as NodeJS.Require;
  req.resolve = ((request: string, options?: unknown) =>
    M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  req.resolve.paths = (request: string) => M._resolveLookupPaths(request, mod);
  req.main = require.main;
  req.extensions = M._extensions as NodeJS.Require['extensions'];
  req.cache = M._cache as NodeJS.Require['cache'];
  return req;
}
