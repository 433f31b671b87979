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

test('a malformed --selector, --kind or --notify is one error line naming it (exit 1), before anything is read', async () => {
  const state = tempDir('flags-target');
  try {
    const cases: [string[], string][] = [
      [['plan', '-C', lab, '--selector', 'foo'], 'error: --selector "foo": write it as label=value'],
      [['drift', '-C', lab, '--kind', 'vmx'], 'error: --kind'],
      [['plan', '-C', lab, '--notify', 'nope'], 'error: --notify "nope": not a URL'],
    ];
    for (const [args, start] of cases) {
      const r = await runCli(['--state-dir', state, ...args]);
      expect({ args, code: r.code, out: r.out }).toEqual({ args, code: 1, out: '' });
      const lines = r.err.trimEnd().split('\n');
      expect({ args, lines: lines.length, first: lines[0]!.startsWith(start) }).toEqual({
        args,
        lines: 1,
        first: true,
      });
    }
  } finally {
    removeDir(state);
  }
});
