/**
 * `shipshape init`: the scaffolded site repo validates as it is, carries the pipelines pinned to this
 * version, never overwrites an existing site, and its OS catalog and baseline role are the lab's.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';

const ROOT = join(__dirname, '..', '..');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

function files(dir: string, base = dir): string[] {
  return readdirSync(dir)
    .flatMap((e) => (statSync(join(dir, e)).isDirectory() ? files(join(dir, e), base) : [relative(base, join(dir, e))]))
    .sort();
}

it('scaffolds a site repo that validates, with both pipelines pinned to this version', async () => {
  const dir = tempDir('init');
  dirs.push(dir);
  const r = await runCli(['init', dir]);
  expect(r.code).toBe(0);
  expect(files(dir)).toEqual(
    expect.arrayContaining([
      '.github/workflows/apply.yml',
      '.github/workflows/drift.yml',
      '.github/workflows/plan.yml',
      '.gitignore',
      '.gitlab-ci.yml',
      'README.md',
      'known_hosts',
      'os/debian12/os.yaml',
      'os/rocky9/os.yaml',
      'profiles/base.yaml',
      'roles/baseline/internal/role.yaml',
      'shipshape.yaml',
      'systems/app-01.yaml',
    ]),
  );
  const site = readFileSync(join(dir, 'shipshape.yaml'), 'utf8');
  expect(site).not.toMatch(/^\s*lab: true/m); // a real site, not the lab
  expect(readFileSync(join(dir, '.gitignore'), 'utf8')).toContain('secrets/');
  for (const f of [
    '.github/workflows/plan.yml',
    '.github/workflows/apply.yml',
    '.github/workflows/drift.yml',
    '.gitlab-ci.yml',
  ]) {
    const text = readFileSync(join(dir, f), 'utf8');
    expect(text).toContain(`shipshape@${version}`);
    expect(text).not.toContain('@SHIPSHAPE_VERSION@');
  }
  const v = await runCli(['validate', dir]);
  expect(v.err).toBe('');
  expect(v.code).toBe(0);
  expect(v.out).toContain('valid (1 system)');
});

it('never overwrites: a folder that holds any of the files is refused and nothing is written', async () => {
  const dir = tempDir('init-taken');
  dirs.push(dir);
  writeFileSync(join(dir, 'shipshape.yaml'), 'mine\n');
  const r = await runCli(['init', dir]);
  expect(r.code).toBe(1);
  expect(r.err).toContain(`${dir} already holds shipshape.yaml; init never overwrites a site`);
  expect(files(dir)).toEqual(['shipshape.yaml']);
  expect(readFileSync(join(dir, 'shipshape.yaml'), 'utf8')).toBe('mine\n');
});

it('the OS catalog and the baseline role are the lab site’s, file for file', () => {
  for (const sub of ['os/debian12', 'os/rocky9', 'roles/baseline/internal', 'roles/baseline/external']) {
    const tpl = join(ROOT, 'templates', 'site', sub);
    const lab = join(ROOT, 'examples', 'lab', sub);
    expect(files(tpl)).toEqual(files(lab));
    for (const f of files(tpl))
      expect([sub, f, readFileSync(join(tpl, f), 'utf8')]).toEqual([sub, f, readFileSync(join(lab, f), 'utf8')]);
  }
});
