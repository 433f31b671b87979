import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { simpleGit } from 'simple-git';
import { system } from '../../test/support/fixtures';
import { affectedSystems, changedFiles } from './changes';

describe('merge-request scope', () => {
  const web = system('web-01', {
    file: 'systems/web-01.yaml',
    profile: 'web',
    roles: [{ name: 'app/shop', params: {} }],
    sources: { cpu: { file: 'profiles/web.yaml', line: 7, col: 8 } },
  });
  const db = system('db-01', { file: 'systems/db-01.yaml', profile: undefined, os: 'rocky9', sources: {} });

  it('a system is touched by its manifest, its roles, its OS entry, profiles, or the site', () => {
    expect(affectedSystems([web, db], ['systems/web-01.yaml'])).toEqual(new Set(['web-01']));
    expect(affectedSystems([web, db], ['roles/app/shop/role.yaml'])).toEqual(new Set(['web-01']));
    expect(affectedSystems([web, db], ['os/rocky9/os.yaml'])).toEqual(new Set(['db-01']));
    expect(affectedSystems([web, db], ['profiles/other.yaml'])).toEqual(new Set(['web-01']));
    expect(affectedSystems([web, db], ['shipshape.yaml'])).toEqual(new Set(['web-01', 'db-01']));
    expect(affectedSystems([web, db], ['README.md'])).toEqual(new Set());
  });

  it('a system that uses another one’s values is touched with it; an environment file touches its members', () => {
    const lb = system('lb-01', { file: 'systems/lb-01.yaml', profile: undefined, sources: {}, dependsOn: ['web-01'] });
    const dbInEnv = { ...db, environment: { name: 'shop', systems: ['db-01'] } };
    const webOnDb = { ...web, dependsOn: ['db-01'] };
    expect(affectedSystems([webOnDb, db, lb], ['systems/db-01.yaml'])).toEqual(new Set(['db-01', 'web-01', 'lb-01']));
    expect(affectedSystems([webOnDb, db, lb], ['systems/lb-01.yaml'])).toEqual(new Set(['lb-01']));
    expect(affectedSystems([web, dbInEnv], ['environments/shop.yaml'])).toEqual(new Set(['db-01']));
  });

  it('lists the files changed on a branch since it left the base, in a real repository', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shipshape-mr-'));
    const git = simpleGit(dir);
    await git.init(['--initial-branch=main']);
    await git.addConfig('user.email', 'ci@example.com').addConfig('user.name', 'CI');
    const write = (f: string, t: string) => {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), t);
    };
    write('systems/web-01.yaml', 'a\n');
    write('systems/db-01.yaml', 'a\n');
    await git.add('.').then(() => git.commit('base'));
    await git.checkoutLocalBranch('mr');
    write('systems/web-01.yaml', 'b\n');
    await git.add('.').then(() => git.commit('more cpu'));
    await git.checkout('main');
    write('systems/db-01.yaml', 'c\n'); // moves main on: must not count as the branch's change
    await git.add('.').then(() => git.commit('main moved'));
    await git.checkout('mr');
    expect(await changedFiles(dir, 'main')).toEqual(['systems/web-01.yaml']);
    await expect(changedFiles(dir, 'no-such-ref')).rejects.toThrow(/cannot compare with no-such-ref/);
  });
});
