/** The merge-request repo: trusted files from the base, systems/ and profiles/ from the branch, for a site in a sub-folder too. */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeTrusted } from './trusted';

const top = mkdtempSync(join(tmpdir(), 'shipshape-trusted-test-'));
const site = join(top, 'sites', 'prod');
const git = (...a: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...a], { cwd: top, encoding: 'utf8' });
const write = (rel: string, text: string) => {
  mkdirSync(join(site, rel, '..'), { recursive: true });
  writeFileSync(join(site, rel), text);
};
afterAll(() => rmSync(top, { recursive: true, force: true }));

beforeAll(() => {
  git('init', '-q', '-b', 'main');
  write('shipshape.yaml', 'site: base\n');
  write('roles/web/role.yaml', 'check: base\n');
  write('os/debian12/os.yaml', 'os: base\n');
  write('known_hosts', 'base key\n');
  write('systems/a.yaml', 'cpu: 1\n');
  write('profiles/p.yaml', 'p: 1\n');
  git('add', '-A');
  git('commit', '-qm', 'base');
  git('checkout', '-qb', 'branch');
  write('shipshape.yaml', 'site: branch\nurl: elsewhere\n');
  write('roles/web/role.yaml', 'check: hostile\n');
  write('roles/evil/role.yaml', 'check: hostile\n');
  rmSync(join(site, 'os', 'debian12', 'os.yaml'));
  write('known_hosts', 'attacker key\n');
  write('systems/a.yaml', 'cpu: 2\n');
  write('systems/b.yaml', 'cpu: 3\n');
  write('profiles/p.yaml', 'p: 2\n');
  write('added-by-branch.txt', 'tracked in the branch only\n');
  git('add', '-A');
  git('commit', '-qm', 'branch');
  write('secrets/key', 'written by the CI job\n'); // untracked
});

it('takes every tracked file but systems/ and profiles/ from the base, links untracked ones, lists what it did not use', async () => {
  const t = await composeTrusted(site, 'main');
  try {
    const read = (rel: string) => readFileSync(join(t.dir, rel), 'utf8');
    expect(read('shipshape.yaml')).toBe('site: base\n');
    expect(read('roles/web/role.yaml')).toBe('check: base\n');
    expect(existsSync(join(t.dir, 'roles/evil'))).toBe(false);
    expect(read('os/debian12/os.yaml')).toBe('os: base\n');
    expect(read('known_hosts')).toBe('base key\n');
    expect(read('systems/a.yaml')).toBe('cpu: 2\n');
    expect(read('systems/b.yaml')).toBe('cpu: 3\n');
    expect(read('profiles/p.yaml')).toBe('p: 2\n');
    expect(lstatSync(join(t.dir, 'secrets')).isSymbolicLink()).toBe(true);
    expect(read('secrets/key')).toBe('written by the CI job\n');
    expect(existsSync(join(t.dir, 'added-by-branch.txt'))).toBe(false);
    expect(t.baseCommit).toBe(git('rev-parse', 'main').trim());
    expect(t.notUsed).toEqual([
      { file: 'added-by-branch.txt', status: 'added', added: 1, removed: 0 },
      { file: 'known_hosts', status: 'modified', added: 1, removed: 1 },
      { file: 'os/debian12/os.yaml', status: 'deleted', added: 0, removed: 1 },
      { file: 'roles/evil/role.yaml', status: 'added', added: 1, removed: 0 },
      { file: 'roles/web/role.yaml', status: 'modified', added: 1, removed: 1 },
      { file: 'shipshape.yaml', status: 'modified', added: 2, removed: 1 },
    ]);
  } finally {
    t.cleanup();
  }
  expect(existsSync(t.dir)).toBe(false);
});

it('a base that is not a commit is a clear error', async () => {
  await expect(composeTrusted(site, 'origin/nope')).rejects.toThrow('origin/nope is not a commit in');
});
