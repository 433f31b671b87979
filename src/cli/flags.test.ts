/** One set of flags across commands: -C DIR and --format everywhere, --version. */
import { readFileSync, writeFileSync } from 'node:fs';
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

test('apply PLAN.json with a missing or foreign plan file says so first, before connecting anywhere', async () => {
  const state = tempDir('flags-plan-file');
  try {
    const missing = join(state, 'plan.json');
    const foreign = join(state, 'other.json');
    writeFileSync(foreign, '{"terraform": true}\n');
    for (const [file, message] of [
      [
        missing,
        `error: cannot read the saved plan ${missing} (ENOENT): make it with \`shipshape plan --format json --out ${missing}\`, or apply without a plan file`,
      ],
      [
        foreign,
        `error: ${foreign}: not a shipshape plan of format version 1; create one with \`shipshape plan --format json --out ${foreign}\``,
      ],
    ]) {
      const r = await runCli(['--state-dir', state, 'apply', file!, '-C', lab]);
      expect({ code: r.code, err: r.err }).toEqual({ code: 1, err: `${message}\n` });
    }
  } finally {
    removeDir(state);
  }
});

test('adopt of a name no manifest declares says so before connecting anywhere', async () => {
  const state = tempDir('flags-adopt');
  try {
    const r = await runCli(['--state-dir', state, 'adopt', 'web-dev-99', '-C', lab]);
    expect({ code: r.code, err: r.err }).toEqual({
      code: 1,
      err: 'error: no manifest declares web-dev-99; `shipshape import` writes manifests for existing systems\n',
    });
  } finally {
    removeDir(state);
  }
});

test('a --listen address that is not HOST:PORT, or a port past 65535, is one error line naming it', async () => {
  const state = tempDir('flags-listen');
  try {
    for (const listen of ['bogus', '127.0.0.1:99999']) {
      const r = await runCli(['--state-dir', state, 'ui', '--listen', listen]);
      expect({ code: r.code, err: r.err }).toEqual({
        code: 1,
        err: `error: listen address "${listen}" must be HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:9464\n`,
      });
    }
  } finally {
    removeDir(state);
  }
});

test('status of a folder that does not exist is an error, not an empty table; an invalid repo is said above the table', async () => {
  const state = tempDir('flags-status');
  try {
    const missing = join(state, 'no-repo');
    const r = await runCli(['--state-dir', state, 'status', '-C', missing]);
    expect({ code: r.code, out: r.out, err: r.err }).toEqual({
      code: 1,
      out: '',
      err: `error: repo directory ${missing} does not exist: run status in the site repo, or name it with -C DIR\n`,
    });
    const broken = await runCli(['--state-dir', state, 'status', '-C', join(root, 'test', 'fixtures', 'broken-repo')]);
    expect(broken.code).toBe(0);
    expect(broken.err).toMatch(/^warning: \d+ errors in \S+broken-repo \(`shipshape validate` lists them\)/);
    expect(broken.out).toMatch(/^SYSTEM\s+OS\s+INSTALL/);
  } finally {
    removeDir(state);
  }
});
