/**
 * Creates killed mid-way (SIGKILL, through the engine and its create journal) resume on the next
 * run without a duplicate, and the journal entry never outlives the run that resolves it. Plain
 * vcsim finishes tasks before the call returns, so the clone is complete when the child dies; in
 * the vCenter-like mode (as on vCenter) it is still running then, and the next run finds it
 * through the journal's task reference once it has landed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SiteConfig } from '../../src/manifest/site';
import { CreateJournal } from '../../src/engine/journal';
import { retrieveView, runTask } from '../../src/providers/vsphere/inventory';
import { ref } from '../../src/providers/vsphere/soap/xml';
import { extraConfig } from '../../src/providers/vsphere/specs';
import { lastPerKey, MARKER_COMMIT, MARKER_OS, MARKER_OWNER, MARKER_SYSTEM } from '../../src/providers/vsphere/vm';
import { applyVms } from '../helpers/vsphere-apply';
import { adminClient, makeTemplates, siteFor, systemNamed } from '../helpers/vsphere-site';
import { SIM_MODES, startVcsim, type Vcsim } from '../helpers/vcsim';

describe.each(SIM_MODES)('%s', (mode) => {
  let sim: Vcsim;
  let site: SiteConfig;
  let root: string;
  let journal: CreateJournal;

  beforeAll(async () => {
    sim = await startVcsim({ mode });
    await makeTemplates(sim, ['tpl-debian12']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-vs-repo-'));
    site = siteFor(sim, root);
    journal = new CreateJournal(path.join(root, 'state', 'journal'));
  }, 300_000); // the first run builds the harness (about 30 s on 2 idle cores)
  afterAll(async () => {
    await sim?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function vmsNamed(name: string): Promise<{ ref: string; marked: boolean; power: string }[]> {
    const c = adminClient(sim);
    const sc = await c.serviceContent();
    const objs = await retrieveView(c, sc.rootFolder, [
      { type: 'VirtualMachine', paths: ['name', 'config.extraConfig', 'runtime.powerState'] },
    ]);
    await c.logout();
    return objs
      .filter((o) => o.props.get('name')?.text === name)
      .map((o) => ({
        ref: o.obj.value,
        // As vSphere reads options: the last value of a key wins, and an empty value removes it.
        marked: lastPerKey(o.props.get('config.extraConfig')).get(MARKER_SYSTEM) === name,
        power: o.props.get('runtime.powerState')!.text,
      }));
  }

  /** The VMs of that name once the clone the killed child started has landed (a vCenter-like task still runs after the kill). */
  async function landed(name: string): Promise<{ ref: string; marked: boolean; power: string }[]> {
    for (let i = 0; i < 100; i++) {
      const got = await vmsNamed(name);
      if (got.length) return got;
      await new Promise((r) => setTimeout(r, 50));
    }
    return vmsNamed(name);
  }

  function createAndDie(name: string, mac: string, o: { dieAfter: 'task' | 'vm' }): void {
    const r = spawnSync(
      process.execPath,
      [
        '-r',
        path.join(__dirname, '..', 'helpers', 'ts-register.js'),
        path.join(__dirname, 'fixtures', 'create-and-die.ts'),
      ],
      {
        env: { ...process.env, CREATE_AND_DIE: JSON.stringify({ site, name, mac, journalDir: journal.dir, ...o }) },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    if (r.signal !== 'SIGKILL')
      throw new Error(`child was expected to die by SIGKILL, got status ${r.status}: ${r.stderr}`);
  }

  /** Removes shipshape's extraConfig marker from a VM (an empty value removes an option in vSphere). */
  async function dropMarker(vm: string): Promise<void> {
    const c = adminClient(sim);
    try {
      await runTask(
        c,
        'ReconfigVM_Task',
        ref('_this', { type: 'VirtualMachine', value: vm }) +
          `<spec>${extraConfig([MARKER_OWNER, MARKER_SYSTEM, MARKER_OS, MARKER_COMMIT].map((k) => [k, '']))}</spec>`,
        { timeoutMs: 30_000, what: 'drop the marker' },
      );
    } finally {
      await c.logout();
    }
  }

  const sys = (name: string, mac: string, state: 'present' | 'absent' = 'present') =>
    systemNamed(name, { state, network: { net: 'dev-net', ip: 'auto', mac } });

  test('killed after the clone started (marker in the clone spec): the next run converges the same VM and clears the journal', async () => {
    createAndDie('crash-01', '00:50:56:02:00:01', { dieAfter: 'task' });
    const half = await landed('crash-01');
    expect(half).toEqual([expect.objectContaining({ marked: true, power: 'poweredOff' })]);
    expect(journal.read('vm', 'crash-01')?.detail).toMatchObject({ task: expect.stringMatching(/^task-/) });
    const { plan, report } = await applyVms(site, [sys('crash-01', '00:50:56:02:00:01')], journal);
    expect(plan.actions).toEqual([expect.objectContaining({ action: 'update' })]);
    expect(report).toMatchObject({ ok: true, journalLeft: [] });
    expect(await vmsNamed('crash-01')).toEqual([{ ref: half[0]!.ref, marked: true, power: 'poweredOn' }]);
    expect(journal.list()).toEqual([]);
  });

  // Some vCenter setups drop parts of the clone spec; then the clone is born unmarked and only the
  // create journal (with the task reference) tells it apart from someone else's VM. The test plays
  // such a setup by removing the marker once the clone has landed, before the next run.
  test('killed after the clone started (clone spec dropped the marker): the journal identifies the clone, no duplicate', async () => {
    createAndDie('crash-02', '00:50:56:02:00:02', { dieAfter: 'task' });
    const half = await landed('crash-02');
    await dropMarker(half[0]!.ref);
    expect(await vmsNamed('crash-02')).toEqual([expect.objectContaining({ marked: false })]);
    const { report } = await applyVms(site, [sys('crash-02', '00:50:56:02:00:02')], journal);
    expect(report.ok).toBe(true);
    expect(await vmsNamed('crash-02')).toEqual([{ ref: half[0]!.ref, marked: true, power: 'poweredOn' }]);
    expect(journal.list()).toEqual([]);
  });

  test('an unmarked same-name VM the journal cannot prove is ours stops the create instead of guessing', async () => {
    createAndDie('crash-03', '00:50:56:02:00:03', { dieAfter: 'task' });
    await dropMarker((await landed('crash-03'))[0]!.ref);
    // As if killed before the task reference was written.
    fs.writeFileSync(
      journal.pathFor('vm', 'crash-03'),
      JSON.stringify({ system: 'crash-03', startedAt: new Date().toISOString(), detail: {} }),
    );
    const { report, events } = await applyVms(site, [sys('crash-03', '00:50:56:02:00:03')], journal);
    expect(events.filter((e) => e.type === 'warn').map((e) => e.error)).toContainEqual(
      expect.stringMatching(
        /without shipshape's marker; an interrupted create of this system may have made it, but the journal cannot prove it.*kept the create journal/,
      ),
    );
    expect(report.outcomes[0]).toMatchObject({ status: 'blocked' });
    expect(report.ok).toBe(false);
    expect(await vmsNamed('crash-03')).toHaveLength(1);
    journal.clear('vm', 'crash-03');
  });

  // The lab's finding: killed right after the journal recorded the VM, the rerun converged through
  // update but the journal stayed; a tombstone destroyed the VM; declaring the system again failed
  // with "create journal … says clone task … made vm-…, but no VM named … exists".
  test('killed after the journal recorded the VM: update, tombstone and re-create each converge and leave no journal', async () => {
    const mac = '00:50:56:02:00:04';
    createAndDie('crash-04', mac, { dieAfter: 'vm' });
    expect(journal.read('vm', 'crash-04')?.detail).toMatchObject({ vm: expect.stringMatching(/^vm-/) });
    const first = await applyVms(site, [sys('crash-04', mac)], journal);
    expect(first.report).toMatchObject({ ok: true, journalLeft: [] });
    expect(journal.list()).toEqual([]);
    const gone = await applyVms(site, [sys('crash-04', mac, 'absent')], journal);
    expect(gone.report.ok).toBe(true);
    expect(await vmsNamed('crash-04')).toEqual([]);
    const again = await applyVms(site, [sys('crash-04', mac)], journal);
    expect(again.plan.actions).toEqual([expect.objectContaining({ action: 'create' })]);
    expect(again.report).toMatchObject({ ok: true, journalLeft: [] });
    expect(await vmsNamed('crash-04')).toEqual([expect.objectContaining({ marked: true, power: 'poweredOn' })]);
    expect(journal.list()).toEqual([]);
  });

  test('a journal that points at a VM that no longer exists is cleared with a warning instead of blocking the create', async () => {
    const mac = '00:50:56:02:00:05';
    fs.mkdirSync(path.dirname(journal.pathFor('vm', 'crash-05')), { recursive: true });
    fs.writeFileSync(
      journal.pathFor('vm', 'crash-05'),
      JSON.stringify({
        system: 'crash-05',
        startedAt: new Date().toISOString(),
        detail: { task: 'task-999999', vm: 'vm-999999' },
      }),
    );
    const { report, events } = await applyVms(site, [sys('crash-05', mac)], journal);
    expect(events.filter((e) => e.type === 'warn').map((e) => e.error)).toEqual([
      expect.stringMatching(/interrupted creating it .*no longer exists; cleared its create journal/),
    ]);
    expect(report).toMatchObject({ ok: true, journalLeft: [] });
    expect(await vmsNamed('crash-05')).toEqual([expect.objectContaining({ marked: true })]);
  });
});
