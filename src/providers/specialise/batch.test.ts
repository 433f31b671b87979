import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { batchScript, parseBatch, type BatchStep } from './batch';

/** Runs a batch as the target would (`/bin/sh -s` reading the script), here on this machine. */
function runHere(steps: BatchStep[], env: NodeJS.ProcessEnv = process.env) {
  const { script, marker } = batchScript(steps);
  const r = spawnSync('/bin/sh', ['-s'], { input: script, env, encoding: 'utf8', timeout: 30_000 });
  return parseBatch(r.stdout, r.stderr, marker);
}

describe('the remote batch script', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(os.tmpdir(), 'shipshape-batch-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('uploads every kind of file byte for byte, starting base64 only for what is not plain text', () => {
    // A base64 that notes each start, ahead of the real one on PATH.
    const bin = join(dir, 'bin');
    spawnSync('mkdir', [bin]);
    writeFileSync(join(bin, 'base64'), `#!/bin/sh\necho x >> ${join(dir, 'base64-runs')}\nexec /usr/bin/base64 "$@"\n`);
    chmodSync(join(bin, 'base64'), 0o755);
    const uploads: Record<string, Buffer> = {
      // Text as templates render it: shell syntax, quotes, a would-be delimiter, CRLF, UTF-8.
      config: Buffer.from('x=$HOME `id` \'q\' "d" \\\nSHIPSHAPE_EOF_0123456789abcdef\nEOF\r\ngrüße ✓\n\n', 'utf8'),
      newline: Buffer.from('\n'),
      // Not plain text: no newline at the end, a NUL, bytes that are not UTF-8.
      unterminated: Buffer.from('no newline at the end'),
      nul: Buffer.from('a\0b\n'),
      binary: Buffer.from([0x21, 0x3c, 0x61, 0x72, 0xff, 0xfe, 0x80, 0x0a]),
    };
    const results = runHere(
      Object.entries(uploads).map(([name, stdin]) => ({
        key: name,
        command: `cat > ${join(dir, name)}`,
        stdin,
        timeoutMs: 10_000,
      })),
      { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    );
    expect(results.map((r) => [r.key, r.code])).toEqual(Object.keys(uploads).map((k) => [k, 0]));
    for (const [name, data] of Object.entries(uploads)) expect(readFileSync(join(dir, name))).toEqual(data);
    expect(readFileSync(join(dir, 'base64-runs'), 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('stops at the first failing step with its exit code and its own output; a step over its time is 124', () => {
    const results = runHere([
      { key: '0', command: 'echo one; echo warn >&2', timeoutMs: 10_000 },
      { key: '1', command: 'echo two; exit 3', timeoutMs: 10_000 },
      { key: '2', command: 'echo never', timeoutMs: 10_000 },
    ]);
    expect(results).toEqual([
      { key: '0', code: 0, stdout: 'one', stderr: 'warn' },
      { key: '1', code: 3, stdout: 'two', stderr: '' },
    ]);
    const slow = runHere([{ key: '0', command: 'sleep 5 & wait', timeoutMs: 1_000 }]);
    expect(slow.map((r) => r.code)).toEqual([124]);
  });
});
