/** `apply --wait-lock`: a second run waits for the first instead of failing. */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../test/helpers/cli';
import { removeDir, tempDir } from '../../test/helpers/daemon';
import { acquireLock } from '../engine/lock';

test('apply fails at once on a held lock, and with --wait-lock waits until it is released', async () => {
  const dir = tempDir('wait-lock');
  try {
    // A repo that does not validate: once apply has the lock it stops at loading, touching no backend.
    cpSync(join(__dirname, '..', '..', 'test', 'fixtures', 'broken-repo'), dir, { recursive: true });
    const state = join(dir, '.state');
    const held = acquireLock(state, 'apply (another run)');
    const now = await runCli(['--state-dir', state, 'apply', '-C', dir]);
    expect(now.code).toBe(1);
    expect(now.err).toMatch(
      /another shipshape run holds the lock .*"apply \(another run\)".*; wait for it to finish, or run again with --wait-lock \[DURATION\] to wait for it \(default 10m\)/,
    );

    const short = await runCli(['--state-dir', state, 'apply', '-C', dir, '--wait-lock', '1s']);
    expect(short.err).toMatch(/holds the lock .* \(waited 1s with --wait-lock\)/);

    const started = Date.now();
    setTimeout(() => held.release(), 1500);
    const waited = await runCli(['--state-dir', state, 'apply', '-C', dir, '--wait-lock', '30s']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(waited.err).toMatch(/holds the lock .*: waiting up to 30s \(--wait-lock\)/);
    expect(waited.err).toMatch(/errors? in .*nothing was planned or changed/); // it got the lock and went on
    expect((await runCli(['apply', '-C', dir, '--wait-lock', 'soon'])).err).toMatch(
      /--wait-lock "soon": write a duration like 90s, 5m or 1h/,
    );
  } finally {
    removeDir(dir);
  }
}, 60_000);
