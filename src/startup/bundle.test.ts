import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { removeDir, tempDir } from '../../test/helpers/daemon';
import { bundle, ownPaths } from './bundle';

let root: string;
beforeEach(() => {
  root = tempDir('bundle');
});
afterEach(() => removeDir(root));

function write(files: Record<string, string>): void {
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), text);
  }
}

/** A compiled tree as tsc leaves it: main.js requires a module that finds a file beside itself by `__dirname`. */
const TREE = {
  'dist/src/cli/main.js': `"use strict";\nconst where = require("../lab/where");\nconst dep = require("bundled-dep");\nconst ext = require("external-dep");\nexports.main = () => [where.data(), where.name(), dep, ext].join(" ");\n`,
  'dist/src/lab/where.js': `"use strict";\nconst path = require("path");\nexports.data = () => require("fs").readFileSync(path.join(__dirname, "helper.txt"), "utf8").trim();\nexports.name = () => path.relative(path.join(__dirname, ".."), __filename);\n`,
  'dist/src/lab/helper.txt': 'the helper beside where.js\n',
  'node_modules/bundled-dep/package.json': '{ "name": "bundled-dep", "main": "index.js" }',
  'node_modules/bundled-dep/index.js': `let native;\ntry { native = require("./build/Release/addon.node"); } catch { native = "no addon"; }\nmodule.exports = native;\n`,
  'node_modules/external-dep/package.json': '{ "name": "external-dep", "main": "index.js" }',
  'node_modules/external-dep/index.js': 'module.exports = "external";\n',
};

test('the bundle runs as the modules did: paths from __dirname and __filename, native addons and external packages found', async () => {
  write(TREE);
  const outFile = join(root, 'dist', 'src', 'cli', 'main.bundle.js');
  await bundle({
    root: join(root, 'dist', 'src'),
    entry: join(root, 'dist', 'src', 'cli', 'main.js'),
    outFile,
    dependencies: ['bundled-dep', 'external-dep'],
    bundled: ['bundled-dep'],
  });
  const text = readFileSync(outFile, 'utf8');
  // The bundled package's own code is in the file, its addon and the other package are required at run time.
  expect(text).toContain('no addon');
  expect(text).toContain('require("bundled-dep/build/Release/addon.node")');
  expect(text).toContain('require("external-dep")');
  expect(text).not.toContain('module.exports = "external"');
  // The bundle is CommonJS, as bin/shipshape loads it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { main } = require(outFile) as { main: () => string };
  expect(main()).toBe('the helper beside where.js lab/where.js no addon external');
});

test('a module without __dirname is left as it is; one with it keeps "use strict" first', () => {
  const plain = '"use strict";\nexports.x = 1;\n';
  expect(ownPaths(plain, '/r/dist/src/a/b.js', '/r/dist/src/cli')).toBe(plain);
  const out = ownPaths('"use strict";\nexports.d = __dirname;\n', '/r/dist/src/lab/idoit/b.js', '/r/dist/src/cli');
  expect(out.split('\n')[0]).toBe('"use strict";');
  expect(out).toContain('join(__dirname, "../lab/idoit")');
  expect(out).toContain('exports.d = __moduleDirname;');
});
