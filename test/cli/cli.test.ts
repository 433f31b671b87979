/** The CLI in-process: what an operator sees, and the exit codes scripts rely on. */
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';
import { cleanupRepos, makeRepo, system } from '../manifest/tmp-repo';

const root = join(__dirname, '..', '..');
const lab = join(root, 'examples', 'lab');

describe('shipshape CLI', () => {
  afterAll(cleanupRepos);

  it('validate passes on the example repo', async () => {
    const r = await runCli(['validate', lab]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/valid \(\d+ systems/);
    expect(r.err).toBe('');
  });

  it('validate reports every error of a broken repo as file:line:col, exit 1, no stack trace', async () => {
    const r = await runCli(['validate', join(root, 'test/fixtures/broken-repo')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^systems\/bad-values\.yaml:9:8: error: spec\.cpu must be a whole number/m);
    expect(r.err).toMatch(/\d+ errors in .*broken-repo: nothing was planned or changed/);
    expect(r.err).not.toMatch(/\n\s+at .*\(.*\.ts:\d+:\d+\)/);
  });

  it('validate and plan say a broken profile once, and its systems in one line, however many use it', async () => {
    const systems = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`systems/web-${i + 10}.yaml`, system(`web-${i + 10}`, 'profile: base')]),
    );
    const repo = await makeRepo({
      ...systems,
      'profiles/base.yaml':
        'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: base }\nspec: { cpu: two }\n',
    });
    for (const args of [
      ['validate', repo],
      ['plan', '-C', repo],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(1);
      expect(r.err.split('\n').filter(Boolean)).toEqual([
        'profiles/base.yaml:4:14: error: spec.cpu must be a whole number from 1 to 128, got "two"',
        'systems/web-10.yaml:6:12: error: profile `base` has errors (see its file in profiles/): the system cannot be expanded until they are fixed; 40 systems use it: web-10, web-11, web-12, web-13, web-14 and 35 more',
        `2 errors in ${repo}: nothing was planned or changed. Fix them and run again.`,
      ]);
    }
  });

  it('plan on an invalid repo changes nothing and exits 1 before observing anything', async () => {
    const r = await runCli(['plan', '-C', join(root, 'test/fixtures/broken-repo')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nothing was planned or changed/);
  });

  it('--repo that cannot be fetched is a loud error and changes nothing', async () => {
    const state = tempDir('shipshape-state-');
    const r = await runCli(['--state-dir', state, 'plan', '--repo', join(state, 'no-such-repo'), '--ref', 'main']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error: cannot fetch .*no-such-repo.*nothing was changed/);
  });

  it('every command has help with examples', async () => {
    for (const cmd of ['validate', 'plan', 'apply', 'drift']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toContain('Examples:');
    }
  });

  it('a bad option value is a clear error, exit 1', async () => {
    const r = await runCli(['plan', '--max-deletes', 'many']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--max-deletes must be a whole number, got "many"/);
    const f = await runCli(['plan', '--format', 'yaml']);
    expect(f.code).toBe(1);
    expect(f.err).toMatch(/Allowed choices are text, markdown, json/);
  });
});
