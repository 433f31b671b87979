/** One set of flags across commands: -C DIR and --format everywhere, --version. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../test/helpers/cli';
import { removeDir, tempDir } from '../../test/helpers/daemon';

const root = join(__dirname, '..', '..');
const lab = join(root, 'examples', 'lab');

test('--version prints the package version', async () => {
  const r = await runCli(['--version']);
  expect(r.code).toBe(0);
  expect(r.out.trim()).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
});

test('validate, status and lab status take -C DIR and --format like plan, apply and drift', async () => {
  const state = tempDir('flags');
  try {
    const v = await runCli(['validate', '-C', lab]);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/valid \(\d+ systems/);

    const md = await runCli(['--state-dir', state, 'status', '-C', lab, '--format', 'markdown']);
    expect(md.code).toBe(0);
    expect(md.out).toMatch(/^\| system \| OS \| install \| attempt \| boot \| since \|\n\|---/);
    expect(md.out).toMatch(/\| web-dev-01 \| {2}\| not requested \|/);

    const ls = await runCli(['lab', 'status', '-C', state, '--format', 'json']);
    expect(JSON.parse(ls.out)).toHaveProperty('daemons');
  } finally {
    removeDir(state);
  }
});
