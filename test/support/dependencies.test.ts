/** Every runtime dependency in package.json is imported by the shipped code: an unused one is only attack surface. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

it('no runtime dependency is unused (fast-xml-parser was one)', () => {
  const deps = Object.keys(
    (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> })
      .dependencies,
  );
  const sources = readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => readFileSync(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name), 'utf8'))
    .join('\n');
  const unused = deps.filter(
    (d) => !new RegExp(`(from |require\\()'${d.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(/[^']*)?'`).test(sources),
  );
  expect(unused).toEqual([]);
  expect(deps).not.toContain('fast-xml-parser');
});
