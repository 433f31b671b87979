/**
 * Task waits share their polls per session (src/providers/vsphere/task-watch.ts): apply's many
 * creates each wait for their own clone, reconfigure and power-on tasks, and vCenter should see one
 * poll at a time for all of them, not one per task. Against the vCenter-like harness, whose tasks
 * take the time a rule gives them.
 */
import { VimClient } from '../../src/providers/vsphere/client';
import { retrieveView, taskPollDelay, waitForTask } from '../../src/providers/vsphere/inventory';
import { child, ref, text, toRef, type MoRef } from '../../src/providers/vsphere/soap/xml';
import { adminClient } from '../helpers/vsphere-site';
import { simControl, startVcsim, type Vcsim } from '../helpers/vcsim';

let sim: Vcsim;
let c: VimClient;

beforeAll(async () => {
  sim = await startVcsim({ mode: 'vcenter-like' });
  c = adminClient(sim);
}, 120_000);
afterAll(async () => {
  await c?.logout();
  await sim?.stop();
});

const TASKS = 20;

test(`${TASKS} tasks waited for at once are polled together: round trips per poll, not per task`, async () => {
  await simControl(sim, 'task-rule', { method: 'ReconfigVM_Task', delayMs: 1500, count: TASKS });
  const vms = (
    await retrieveView(c, (await c.serviceContent()).rootFolder, [{ type: 'VirtualMachine', paths: ['name'] }])
  ).map((o) => o.obj);
  const tasks: MoRef[] = await Promise.all(
    Array.from({ length: TASKS }, async (_, i) =>
      toRef(
        child(
          await c.call(
            'ReconfigVM_Task',
            ref('_this', vms[i % vms.length]!) + `<spec>${text('annotation', `watch ${i}`)}</spec>`,
          ),
          'returnval',
        ),
      )!,
    ),
  );
  const before = c.stats.roundTrips;
  await Promise.all(tasks.map((t, i) => waitForTask(c, t, { timeoutMs: 60_000, what: `reconfigure ${i}` })));
  const polls = c.stats.roundTrips - before;
  // Alone, each 1.5 s task is polled about 7 times (100 ms growing by half): 140 reads for 20 tasks.
  expect(polls).toBeGreaterThan(0);
  expect(polls).toBeLessThanOrEqual(3 * 7);
}, 120_000);

test('a task vCenter does not know fails only its own wait; the others sharing its polls finish', async () => {
  const vms = (
    await retrieveView(c, (await c.serviceContent()).rootFolder, [{ type: 'VirtualMachine', paths: ['name'] }])
  ).map((o) => o.obj);
  await simControl(sim, 'task-rule', { method: 'ReconfigVM_Task', delayMs: 600, count: 2 });
  const start = async (i: number) =>
    toRef(
      child(
        await c.call('ReconfigVM_Task', ref('_this', vms[i]!) + `<spec>${text('annotation', `ok ${i}`)}</spec>`),
        'returnval',
      ),
    )!;
  const [a, b] = [await start(0), await start(1)];
  const ghost: MoRef = { type: 'Task', value: 'task-does-not-exist' };
  const results = await Promise.allSettled([
    waitForTask(c, a, { timeoutMs: 30_000, what: 'a' }),
    waitForTask(c, ghost, { timeoutMs: 30_000, what: 'ghost' }),
    waitForTask(c, b, { timeoutMs: 30_000, what: 'b' }),
  ]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
}, 60_000);

test("a task's end is noticed within a quarter of its run time (plus one read), short tasks and long ones alike", () => {
  // The poll instants of one wait: each poll gathers for 15 ms and reads for 20 ms, then pauses.
  const polls: number[] = [];
  for (let t = 35; t < 30_000; t += taskPollDelay(t) + 35) polls.push(t);
  const late = (end: number) => polls.find((t) => t >= end)! - end;
  const tooLate: number[] = [];
  for (let end = 50; end <= 20_000; end += 5) if (late(end) > 150 + end / 4) tooLate.push(end);
  expect(tooLate).toEqual([]);
  // Still few reads: about ten in the first two seconds, under fifty in a minute.
  expect(polls.filter((t) => t < 2_000).length).toBeLessThanOrEqual(12);
  expect(polls.filter((t) => t < 60_000).length).toBeLessThan(50);
});
