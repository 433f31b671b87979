/** `shipshape serve` in-process: the loop, the file watch, /healthz and /metrics, graceful stop. */
import { silentLog } from '../helpers/log';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startServe } from '../../src/cli/commands/serve';
import { cliArgs, runCli } from '../helpers/cli';
import type { Io } from '../../src/cli/io';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const silent = silentLog;

describe('shipshape serve', () => {
  it('runs at startup and when files change, one at a time, and reports health and metrics', async () => {
    // A repo that does not validate: every run fails before touching any backend, which is
    // exactly what health and metrics must show (and it needs no servers).
    const dir = mkdtempSync(join(tmpdir(), 'shipshape-serve-'));
    cpSync(join(__dirname, '..', 'fixtures', 'broken-repo'), dir, { recursive: true });
    const lines: string[] = [];
    const io: Io = { out: () => undefined, err: (l) => void lines.push(l), isTty: false };
    const s = await startServe(
      { dir, mode: 'drift', watch: true, listen: '127.0.0.1:0', graceSeconds: 1, stateDir: join(dir, '.state') },
      io,
      silent,
    );
    try {
      for (let i = 0; i < 100 && s.loop.runs < 1; i++) await sleep(50);
      while (s.loop.busy) await sleep(20);
      // Liveness stays 200 after a failed run (a probe must not restart-loop the service); the run is information.
      const health = await fetch(`${s.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({
        status: 'alive',
        busy: false,
        last: {
          reason: 'startup',
          result: 'failed',
          error: expect.stringMatching(/errors in .*nothing was planned or changed/),
          // README "Outcome codes": wrong manifests are `invalid`, not a backend's `failed`.
          codes: { invalid: 1 },
        },
      });
      const ready = await fetch(`${s.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        ready: false,
        reason: expect.stringMatching(/site config could not be loaded/),
      });
      // One line per run with its result, and the run is in the history.
      expect(lines).toContainEqual(
        expect.stringMatching(/^run \d+ drift error \(startup\): error: \d+ errors? in .* in [\d.]+s$/),
      );

      await sleep(500); // let the watcher settle before the edit
      writeFileSync(join(dir, 'systems', 'ok-01.yaml'), 'apiVersion: shipshape.dev/v1\nkind: System\n');
      for (let i = 0; i < 100 && s.loop.runs < 2; i++) await sleep(50);
      expect(s.loop.runs).toBe(2);
      expect(lines).toContain('reconcile (drift): files changed');

      while (s.loop.busy) await sleep(20);
      expect(lines).toContainEqual(expect.stringMatching(/^run \d+ drift error \(files changed\): /));
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toContain('shipshape_runs_total{mode="drift",result="failed"} 2');
      expect(metrics).toMatch(/shipshape_last_run_duration_seconds\{mode="drift"\} [\d.]+/);
      expect((await fetch(`${s.url}/nope`)).status).toBe(404);
    } finally {
      await s.stop();
    }
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  }, 30_000);

  it('refuses a bad schedule with a clear error', async () => {
    await expect(
      startServe(
        { dir: '.', mode: 'drift', schedule: '99 * * * *', listen: '127.0.0.1:0' },
        { out() {}, err() {}, isTty: false },
        silent,
      ),
    ).rejects.toThrow(/--schedule: cron "99 \* \* \* \*": minute "99" is out of range/);
  });
});

describe('serve as a service', () => {
  it('SIGHUP reads the site config again and runs once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shipshape-serve-hup-'));
    cpSync(join(__dirname, '..', 'fixtures', 'broken-repo'), dir, { recursive: true });
    const lines: string[] = [];
    const io: Io = { out: () => undefined, err: (l) => void lines.push(l), isTty: false };
    const s = await startServe(
      {
        dir,
        mode: 'drift',
        listen: '127.0.0.1:0',
        graceSeconds: 1,
        stateDir: join(dir, '.state'),
        reloadOnHup: true,
        provisioning: false,
      },
      io,
      silent,
    );
    try {
      for (let i = 0; i < 200 && s.loop.runs < 1; i++) await sleep(50);
      while (s.loop.busy) await sleep(20);
      process.emit('SIGHUP', 'SIGHUP');
      for (let i = 0; i < 200 && !lines.some((l) => /^run \d+ drift error \(reload\)/.test(l)); i++) await sleep(50);
      expect(lines).toContain('reload (SIGHUP): reading the site config again');
      expect(lines).toContainEqual(expect.stringMatching(/^run \d+ drift error \(reload\)/));
    } finally {
      await s.stop();
    }
    expect(process.listenerCount('SIGHUP')).toBe(0);
  }, 30_000);

  it('keeps the run history when the process is killed and started again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shipshape-serve-kill-'));
    cpSync(join(__dirname, '..', 'fixtures', 'broken-repo'), dir, { recursive: true });
    const state = join(dir, '.state');
    const serveOnce = async (): Promise<number[]> => {
      const child = spawn(
        process.execPath,
        cliArgs('--state-dir', state, 'serve', '-C', dir, '--listen', '127.0.0.1:0', '--no-provisioning'),
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      try {
        for (let i = 0; i < 600 && !/^run \d+ drift/m.test(err); i++) await sleep(100);
        expect(err).toMatch(/^run \d+ drift error \(startup\)/m);
      } finally {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
      const h = await runCli(['--state-dir', state, 'history', '--format', 'json']);
      return JSON.parse(h.out).runs.map((r: { id: number }) => r.id);
    };
    expect(await serveOnce()).toEqual([1]);
    expect(await serveOnce()).toEqual([2, 1]);
  }, 150_000);
});
