/**
 * `npm run build`'s last step: the compiled CLI (dist/src/cli/main.js and every module it reaches) as one
 * file, dist/src/cli/main.bundle.js, with esbuild. bin/shipshape runs it when it is at least as new as
 * main.js (a later `tsc` alone makes it stale, and then main.js is run as before):
 *   node dist/src/startup/bundle.js
 * One file instead of ~240 saves Node's look-up of each module (the stat, realpath and package.json reads
 * of its resolution), a file read and a code cache entry per module: measured in src/startup/README.md.
 *
 * What stays out (required at run time from node_modules, as without the bundle):
 * - packages with native parts, whose loaders find their `.node` files from their own location
 *   (better-sqlite3 through `bindings`, cpu-features); a `.node` file required by a relative path inside
 *   a bundled package (ssh2's optional crypto binding) is required by its path in that package;
 * - every dependency but the few a `plan` loads at start (BUNDLED): the others are loaded only by some
 *   commands or on first use (yaml, pino, simple-git, ajv's compiler, pg, chokidar), and inside the
 *   bundle they would only make the file every start reads and hashes larger.
 * Our modules that compute paths from `__dirname` or `__filename` (the lab's helper processes, the
 * generated validators, the package root) get their own folder, relative to the bundle's, as without it.
 */
import type { Plugin } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** The dependencies a `plan` loads at start, bundled; every other one stays a require from node_modules. */
export const BUNDLED = ['commander', 'ssh2'];
/** Dependencies of BUNDLED ones with native parts. */
const NATIVE = ['cpu-features', 'better-sqlite3'];

/** Where bin/shipshape looks for the bundle, beside the compiled main.js. */
export const BUNDLE_FILE = 'main.bundle.js';

/**
 * The module text with `__dirname` and `__filename` meaning the module's own path again once it is
 * inside a bundle written to `outDir` (there, both are the bundle's): a variable of its own set from the
 * bundle's folder and the module's folder relative to it.
 */
export function ownPaths(text: string, file: string, outDir: string): string {
  if (!/\b__(dirname|filename)\b/.test(text)) return text;
  const rel = relative(outDir, dirname(file)).split(sep).join('/');
  const base = file.slice(dirname(file).length + 1);
  const decl =
    `var __moduleDirname = require("node:path").join(__dirname, ${JSON.stringify(rel)}); ` +
    `var __moduleFilename = require("node:path").join(__moduleDirname, ${JSON.stringify(base)});\n`;
  const body = text.replace(/\b__dirname\b/g, '__moduleDirname').replace(/\b__filename\b/g, '__moduleFilename');
  // After a "use strict" directive, which must stay the first statement.
  const strict = /^(?:#![^\n]*\n)?\s*(['"])use strict\1;?[^\n]*\n/.exec(body);
  return strict ? strict[0] + decl + body.slice(strict[0].length) : decl + body;
}

function sourcePaths(root: string, outDir: string): Plugin {
  return {
    name: 'own-paths',
    setup(b) {
      b.onLoad({ filter: /\.js$/ }, (a) => {
        if (!a.path.startsWith(root + sep) || a.path.includes(`${sep}node_modules${sep}`)) return undefined;
        return { contents: ownPaths(readFileSync(a.path, 'utf8'), a.path, outDir), loader: 'js' };
      });
    },
  };
}

/** A native addon a bundled package requires by a relative path: required as `package/path` at run time. */
const nativeAddons: Plugin = {
  name: 'native-addons',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (a) => {
      const m = /[\\/]node_modules[\\/](.+)$/.exec(resolve(a.resolveDir, a.path));
      if (!m) return { errors: [{ text: `${a.path}: a native addon outside node_modules cannot be bundled` }] };
      return { path: m[1]!.split(sep).join('/'), external: true };
    });
  },
};

/** Bundles `entry` (a compiled module under `root`) into `outFile`; `dependencies` are package.json's. */
export async function bundle(o: {
  root: string;
  entry: string;
  outFile: string;
  dependencies: string[];
  /** The dependencies bundled (default BUNDLED). */
  bundled?: string[];
}): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a devDependency: see the entry below
  const { build } = require('esbuild') as typeof import('esbuild');
  const outDir = dirname(o.outFile);
  const bundled = o.bundled ?? BUNDLED;
  const external = [...NATIVE, ...o.dependencies.filter((d) => !bundled.includes(d))];
  await build({
    entryPoints: [o.entry],
    outfile: o.outFile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external,
    plugins: [sourcePaths(o.root, outDir), nativeAddons],
    logLevel: 'warning',
  });
}

if (require.main === module) {
  const dist = join(__dirname, '..');
  const pkg = JSON.parse(readFileSync(join(dist, '..', '..', 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const outFile = join(dist, 'cli', BUNDLE_FILE);
  try {
    require.resolve('esbuild');
  } catch {
    // A node_modules from before esbuild was added: no bundle, and bin/shipshape runs main.js (an older
    // bundle is older than the main.js tsc just wrote, so it is not run either).
    process.stderr.write(`esbuild is not installed (run npm ci): ${outFile} not written, bin/shipshape runs main.js\n`);
    process.exit(0);
  }
  bundle({
    root: dist,
    entry: join(dist, 'cli', 'main.js'),
    outFile,
    dependencies: Object.keys(pkg.dependencies ?? {}),
  })
    .then(() => process.stdout.write(`wrote ${outFile}\n`))
    .catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    });
}
