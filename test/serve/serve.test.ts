/** `shipshape serve` in-process: the loop, the file watch, /healthz and /metrics, graceful stop. */
import { silentLog } from '../helpers/log';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe } from '../../src/cli/commands/serve';
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
    const s = await startServe({ dir, mode: 'drift', watch: true, listen: '127.0.0.1:0', graceSeconds: 1, stateDir: join(dir, '.state') }, io, silent);
    try {
      for (let i = 0; i < 100 && s.loop.runs < 1; i++) await sleep(50);
      while (s.loop.busy) await sleep(20);
      const health = await fetch(`${s.url}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ busy: false, last: { reason: 'startup', result: 'failed', error: expect.stringMatching(/errors in .*nothing was planned or changed/) } });

      await sleep(500); // let the watcher settle before the edit
      writeFileSync(join(dir, 'systems', 'ok-01.yaml'), 'apiVersion: shipshape.dev/v1\nkind: System\n');
      for (let i = 0; i < 100 && s.loop.runs < 2; i++) await sleep(50);
      expect(s.loop.runs).toBe(2);
      expect(lines).toContain('reconcile (drift): files changed');

      while (s.loop.busy) await sleep(20);
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
    await expect(startServe({ dir: '.', mode: 'drift', schedule: '99 * * * *', listen: '127.0.0.1:0' }, { out() {}, err() {}, isTty: false }, silent)).rejects.toThrow(
      /--schedule: cron "99 \* \* \* \*": minute "99" is out of range/,
    );
  });
});
