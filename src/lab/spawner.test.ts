import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { detachInHelper, runInHelper } from './spawner';
import { isAlive, startTime } from './process';

describe("the lab's command helper", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(os.tmpdir(), 'shipshape-spawner-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("runs a command with its input and hands back its output, or its failure with the command's stderr", async () => {
    await expect(runInHelper('/bin/sh', ['-c', 'tr a-z A-Z'], 'netns add x\n')).resolves.toBe('NETNS ADD X\n');
    await expect(runInHelper('/bin/sh', ['-c', 'echo "Cannot find device" >&2; exit 2'])).rejects.toThrow(
      /Cannot find device/,
    );
  });

  it('starts a daemon that outlives the call, its output in its log', async () => {
    const log = join(dir, 'daemon.log');
    const pid = await detachInHelper('/bin/sh', ['-c', 'echo up; exec sleep 5'], log);
    const start = startTime(pid);
    expect(start).toBeDefined();
    expect(isAlive(pid, start!)).toBe(true);
    for (let i = 0; i < 50 && !readFileSync(log, 'utf8').includes('up'); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(readFileSync(log, 'utf8')).toBe('up\n');
    process.kill(pid, 'SIGKILL');
  });

  it('never keeps the process that used it alive (apply ends when its work is done)', () => {
    const script = `require(${JSON.stringify(join(__dirname, 'spawner.ts'))}).runInHelper('/bin/echo', ['done']).then((o) => process.stdout.write(o))`;
    const r = spawnSync(
      process.execPath,
      ['-r', join(__dirname, '..', '..', 'test', 'helpers', 'ts-register.js'), '-e', script],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(r.error).toBeUndefined();
    expect(r.stdout).toBe('done\n');
    expect(r.status).toBe(0);
  });
});
