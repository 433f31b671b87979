/** The CLI in-process: what an operator sees, and the exit codes scripts rely on. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';

const root = join(__dirname, '..', '..');
const lab = join(root, 'examples', 'lab');

describe('shipshape CLI', () => {
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

  it('plan on an invalid repo changes nothing and exits 1 before observing anything', async () => {
    const r = await runCli(['plan', '-C', join(root, 'test/fixtures/broken-repo')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nothing was planned or changed/);
  });

  it('--repo that cannot be fetched is a loud error and changes nothing', async () => {
    const state = mkdtempSync(join(tmpdir(), 'shipshape-state-'));
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
