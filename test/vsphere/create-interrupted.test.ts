/**
 * A create killed right after CloneVM_Task was accepted resumes on the next run without a
 * duplicate. Plain vcsim finishes tasks before the call returns, so the clone is complete when
 * the child dies; in the vCenter-like mode (as on vCenter) it is still running then, and the next
 * run finds it through the journal's task reference once it has landed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SiteConfig } from '../../src/manifest/site';
import { CreateJournal } from '../../src/providers/vsphere/journal';
import { VsphereProvider } from '../../src/providers/vsphere/provider';
import { retrieveView } from '../../src/providers/vsphere/inventory';
import { adminClient, ctxFor, makeTemplates, secret, siteFor, systemNamed, vmsOf } from '../helpers/vsphere-site';
import { SIM_MODES, startVcsim, type Vcsim } from '../helpers/vcsim';

describe.each(SIM_MODES)('%s', (mode) => {
  let sim: Vcsim;
  let site: SiteConfig;
  let root: string;

  beforeAll(async () => {
    sim = await startVcsim({ mode });
    await makeTemplates(sim, ['tpl-debian12']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-vs-repo-'));
    site = siteFor(sim, root);
  }, 300_000); // the first run builds the harness (about 30 s on 2 idle cores)
  afterAll(async () => {
    await sim?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function vmsNamed(name: string): Promise<{ ref: string; marked: boolean; power: string }[]> {
    const c = adminClient(sim);
    const sc = await c.serviceContent();
    const objs = await retrieveView(c, sc.rootFolder, [{ type: 'VirtualMachine', paths: ['name', 'config.extraConfig', 'runtime.powerState'] }]);
    await c.logout();
    return objs.filter((o) => o.props.get('name')?.text === name).map((o) => ({
      ref: o.obj.value,
      marked: (o.props.get('config.extraConfig')?.children ?? []).some((ov) => ov.children[0]?.text === 'shipshape.system' && ov.children[1]?.text === name),
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

  function createAndDie(name: string, mac: string, markInCloneSpec: boolean): void {
    const r = spawnSync(process.execPath, ['-r', path.join(__dirname, '..', 'helpers', 'ts-register.js'), path.join(__dirname, 'fixtures', 'create-and-die.ts')], {
      env: { ...process.env, CREATE_AND_DIE: JSON.stringify({ site, name, mac, markInCloneSpec }) }, encoding: 'utf8', timeout: 60_000,
    });
    if (r.signal !== 'SIGKILL') throw new Error(`child was expected to die by SIGKILL, got status ${r.status}: ${r.stderr}`);
  }

  async function resume(name: string, mac: string): Promise<void> {
    const p = new VsphereProvider({ config: vmsOf(site), secret });
    try {
      const sys = systemNamed(name, { network: { net: 'dev-net', ip: 'auto', mac } });
      await p.observe(ctxFor(site));
      await p.create(sys, p.desired(sys, { ip: '', mac })!, { ip: '', mac }, ctxFor(site));
    } finally {
      await p.close();
    }
  }

  test('killed after the clone started (marker in the clone spec): the next run converges the same VM', async () => {
    createAndDie('crash-01', '00:50:56:02:00:01', true);
    const half = await landed('crash-01');
    expect(half).toEqual([expect.objectContaining({ marked: true, power: 'poweredOff' })]);
    await resume('crash-01', '00:50:56:02:00:01');
    const after = await vmsNamed('crash-01');
    expect(after).toEqual([{ ref: half[0]!.ref, marked: true, power: 'poweredOn' }]);
    expect(new CreateJournal(path.join(root, '.shipshape', 'journal', 'vsphere')).read('crash-01')).toBeUndefined();
  });

  // Some vCenter setups drop parts of the clone spec; then the clone is born unmarked and only the
  // create journal (with the task reference) tells it apart from someone else's VM.
  test('killed after the clone started (clone spec dropped the marker): the journal identifies the clone, no duplicate', async () => {
    createAndDie('crash-02', '00:50:56:02:00:02', false);
    const half = await landed('crash-02');
    expect(half).toEqual([expect.objectContaining({ marked: false })]);
    const journal = new CreateJournal(path.join(root, '.shipshape', 'journal', 'vsphere'));
    expect(journal.read('crash-02')).toMatchObject({ system: 'crash-02', task: expect.stringMatching(/^task-/) });
    await resume('crash-02', '00:50:56:02:00:02');
    expect(await vmsNamed('crash-02')).toEqual([{ ref: half[0]!.ref, marked: true, power: 'poweredOn' }]);
    expect(journal.read('crash-02')).toBeUndefined();
  });

  test('an unmarked same-name VM the journal cannot prove is ours stops the create instead of guessing', async () => {
    createAndDie('crash-03', '00:50:56:02:00:03', false);
    await landed('crash-03');
    const journal = new CreateJournal(path.join(root, '.shipshape', 'journal', 'vsphere'));
    const entry = journal.read('crash-03')!;
    journal.write({ system: entry.system, name: entry.name, folder: entry.folder, startedAt: entry.startedAt }); // as if killed before the task reference was written
    await expect(resume('crash-03', '00:50:56:02:00:03')).rejects.toThrow(/already exists .* without shipshape's marker.*An interrupted create of this system .* cannot prove it/);
    expect(await vmsNamed('crash-03')).toHaveLength(1);
  });
});
