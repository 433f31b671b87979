/** What a run records about the checkout it planned from: the commit, and whether the files on disk differ from it. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkoutState, headCommit } from './pipeline';

const isDirty = async (d: string) => (await checkoutState(d)).dirty;

let dir: string;
const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], { cwd: dir, stdio: 'pipe' })
    .toString()
    .trim();

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pipeline-git-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('a folder that is no git checkout has no commit and counts as clean', async () => {
  expect(await headCommit(dir)).toBeUndefined();
  expect(await checkoutState(dir)).toEqual({ dirty: false });
});

test('the commit is HEAD; an edited tracked file or a new file (in a new folder too) is uncommitted, an ignored one is not', async () => {
  git('init', '-q');
  expect(await headCommit(dir)).toBeUndefined(); // before the first commit
  writeFileSync(join(dir, 'shipshape.yaml'), 'a: 1\n');
  writeFileSync(join(dir, '.gitignore'), 'scratch/\n');
  expect(await checkoutState(dir)).toEqual({ dirty: true }); // no commit yet, files not committed
  git('add', '.');
  git('commit', '-qm', 'first');
  expect(await headCommit(dir)).toBe(git('rev-parse', 'HEAD'));
  expect(await checkoutState(dir)).toEqual({ commit: git('rev-parse', 'HEAD'), dirty: false });
  mkdirSync(join(dir, 'scratch'));
  writeFileSync(join(dir, 'scratch', 'notes.yaml'), 'x: 1\n');
  expect(await isDirty(dir)).toBe(false);
  mkdirSync(join(dir, 'systems'));
  writeFileSync(join(dir, 'systems', 'web-01.yaml'), 'b: 2\n');
  expect(await isDirty(dir)).toBe(true);
  rmSync(join(dir, 'systems'), { recursive: true });
  writeFileSync(join(dir, 'shipshape.yaml'), 'a: 2\n');
  expect(await isDirty(dir)).toBe(true);
});
