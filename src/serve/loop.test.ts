import { debounce, ReconcileLoop } from './loop';
import { Metrics } from './metrics';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('reconcile loop', () => {
  it('runs one reconcile at a time and coalesces triggers that arrive meanwhile', async () => {
    let active = 0;
    let peak = 0;
    const reasons: string[] = [];
    const loop = new ReconcileLoop({
      run: async (reason) => {
        active++;
        peak = Math.max(peak, active);
        reasons.push(reason);
        await sleep(30);
        active--;
      },
    });
    const first = loop.trigger('manual');
    void loop.trigger('file change');
    void loop.trigger('source moved');
    await first;
    while (loop.busy) await sleep(5);
    expect(peak).toBe(1);
    expect(reasons).toEqual(['manual', 'file change, source moved']);
  });

  it('stop() waits for the run in progress, then aborts it after the grace period', async () => {
    let aborted = false;
    const loop = new ReconcileLoop({
      run: (_r, signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
    });
    void loop.trigger('manual');
    await loop.stop(20);
    expect(aborted).toBe(true);
    expect(loop.busy).toBe(false);
    await loop.trigger('after stop');
    expect(loop.runs).toBe(1);
  });

  it('a failing run is reported and does not stop the loop', async () => {
    const errors: string[] = [];
    let n = 0;
    const loop = new ReconcileLoop({
      run: async () =>
        void (n++ === 0
          ? (() => {
              throw new Error('vcenter down');
            })()
          : undefined),
      onError: (e) => errors.push((e as Error).message),
    });
    await loop.trigger('a');
    await loop.trigger('b');
    expect(errors).toEqual(['vcenter down']);
    expect(loop.runs).toBe(2);
  });

  it('polling triggers a run when the source moves, not before', async () => {
    let commit = 'aaaa';
    const reasons: string[] = [];
    const loop = new ReconcileLoop({
      run: async (r) => void reasons.push(r),
      poll: { intervalMs: 10, current: async () => commit },
    });
    loop.start();
    await sleep(40);
    expect(reasons).toEqual([]);
    commit = 'bbbbbbbbbbbbbbbb';
    await sleep(40);
    await loop.stop(10);
    expect(reasons).toEqual(['source moved to bbbbbbbbbbbb']);
  });

  it('debounce turns a burst of file events into one call', async () => {
    let calls = 0;
    const d = debounce(() => calls++, 20);
    for (let i = 0; i < 10; i++) d();
    await sleep(50);
    expect(calls).toBe(1);
  });
});

describe('metrics', () => {
  it('renders counters and gauges in the Prometheus text format with escaped labels', () => {
    const m = new Metrics();
    const runs = m.counter('shipshape_runs_total', 'Runs');
    runs({ mode: 'apply', result: 'ok' });
    runs({ mode: 'apply', result: 'ok' });
    m.gauge('shipshape_drift_fields', 'Drift').set({ system: 'we"b' }, 3);
    expect(m.render()).toBe(
      '# HELP shipshape_runs_total Runs\n# TYPE shipshape_runs_total counter\nshipshape_runs_total{mode="apply",result="ok"} 2\n' +
        '# HELP shipshape_drift_fields Drift\n# TYPE shipshape_drift_fields gauge\nshipshape_drift_fields{system="we\\"b"} 3\n',
    );
  });
});

describe('scoped triggers (a change feed names systems)', () => {
  it('coalesce into one run with the union of their systems; an unscoped trigger makes it a full run', async () => {
    const runs: { reason: string; scope?: string[] }[] = [];
    let release!: () => void;
    const loop = new ReconcileLoop({
      run: async (reason, _signal, scope) => {
        runs.push({ reason, ...(scope ? { scope } : {}) });
        if (runs.length === 1) await new Promise<void>((r) => (release = r));
      },
    });
    const first = loop.trigger('startup');
    void loop.trigger('vCenter: web-02', ['web-02']);
    void loop.trigger('vCenter: web-01', ['web-01']);
    release();
    await first;
    while (loop.busy) await sleep(5);
    const second = loop.trigger('hold', ['x']);
    void loop.trigger('vCenter: web-03', ['web-03']);
    void loop.trigger('schedule */5 * * * *');
    release?.();
    await second;
    while (loop.busy) await sleep(5);
    expect(runs).toEqual([
      { reason: 'startup' },
      { reason: 'vCenter: web-02, vCenter: web-01', scope: ['web-01', 'web-02'] },
      { reason: 'hold', scope: ['x'] },
      { reason: 'vCenter: web-03, schedule */5 * * * *' },
    ]);
  });
});
