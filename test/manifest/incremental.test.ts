/**
 * `serve` keeps manifests between loads (ManifestCache): a load reads again only the files that changed,
 * and its result is exactly what a full load of the same repo gives, diagnostics included.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { loadRepo, ManifestCache } from '../../src/manifest';
import { cleanupRepos, makeRepo, system } from './tmp-repo';

afterAll(cleanupRepos);

const web = (n: number, extra = '') => system(`web-0${n}`, 'profile: base', `cpu: ${n}`, ...(extra ? [extra] : []));

describe('incremental manifest loading', () => {
  it('reads only changed, new or removed files again and gives what a full load gives', async () => {
    const root = await makeRepo({
      'systems/web-01.yaml': web(1),
      'systems/web-02.yaml': web(2),
      'systems/web-03.yaml': web(3),
    });
    const cache = new ManifestCache();
    const first = await loadRepo(root, { cache });
    expect(first.ok).toBe(true);
    expect(cache.lastRead).toContain('systems/web-02.yaml');
    expect(await loadRepo(root, { cache })).toEqual(first);
    expect(cache.lastRead).toEqual([]);

    // One file edited (same length: the stamp still changes), one added, one removed.
    await fs.writeFile(path.join(root, 'systems/web-02.yaml'), web(4).replace('web-04', 'web-02'));
    await fs.writeFile(path.join(root, 'systems/web-05.yaml'), web(5));
    await fs.rm(path.join(root, 'systems/web-03.yaml'));
    const second = await loadRepo(root, { cache });
    expect(cache.lastRead.sort()).toEqual(['systems/web-02.yaml', 'systems/web-05.yaml']);
    expect(second).toEqual(await loadRepo(root));
    expect(second.systems.map((s) => [s.name, s.cpu])).toEqual([
      ['web-01', 1],
      ['web-02', 4],
      ['web-05', 5],
    ]);
  });

  it('keeps reporting a broken file that did not change, and forgets it once fixed', async () => {
    const root = await makeRepo({
      'systems/web-01.yaml': web(1),
      'systems/web-02.yaml': web(2, 'cpu: 3'), // a duplicate key
    });
    const cache = new ManifestCache();
    const broken = await loadRepo(root, { cache });
    expect(broken.ok).toBe(false);
    const again = await loadRepo(root, { cache });
    expect(cache.lastRead).toEqual([]);
    expect(again.diagnostics).toEqual(broken.diagnostics);
    expect(again.diagnostics.map((d) => `${d.file}:${d.line}`)).toContain('systems/web-02.yaml:8');

    await fs.writeFile(path.join(root, 'systems/web-02.yaml'), web(2));
    const fixed = await loadRepo(root, { cache });
    expect(cache.lastRead).toEqual(['systems/web-02.yaml']);
    expect(fixed.ok).toBe(true);
    expect(fixed).toEqual(await loadRepo(root));
  });
});
