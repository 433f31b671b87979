/**
 * shipshape's own version, from the package.json it was installed with (the same file from the
 * sources, from dist/ and from an installed package: the nearest package.json named shipshape).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The package root: templates/ and schemas/ live there. */
export function packageRoot(): string {
  for (let d = __dirname; ; d = dirname(d)) {
    const p = join(d, 'package.json');
    if (existsSync(p) && (JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'shipshape') return d;
    if (dirname(d) === d) throw new Error(`no package.json of shipshape above ${__dirname}`);
  }
}

export function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
