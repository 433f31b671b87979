/**
 * What only the vCenter-like mode can show (tools/vcsim -vcenter): tasks that take time and report
 * progress, faults that arrive later in info.error, a task cancelled at its timeout, 2,500 VMs read
 * in pages of 500 (and a read abandoned early cancelled), a session that expires mid-run, vCenter's
 * DuplicateName foreseen by the plan, replacing extraConfig/SetField, and version negotiation.
 * Task times are long (5 s, 3 s) only where a test is about them; everything else runs at 30 ms.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { progressPrinter } from '../../src/cli/progress';
import { applyPlan, type ApplyReport } from '../../src/engine/apply';
import type { DesiredSystem } from '../../src/manifest/types';
import type { Plan } from '../../src/plan/types';
import type { SiteConfig } from '../../src/manifest/site';
import { plan } from '../../src/plan/planner';
import { renderText } from '../../src/plan/render/text';
import { VimClient } from '../../src/providers/vsphere/client';
import {
  findByInventoryPath,
  retrieveObjects,
  retrievePages,
  retrieveView,
  runTask,
  TaskTimeoutError,
} from '../../src/providers/vsphere/inventory';
import { VsphereProvider } from '../../src/providers/vsphere/provider';
import { DuplicateNameError } from '../../src/providers/vsphere/soap/faults';
import { ref, text, type XNode } from '../../src/providers/vsphere/soap/xml';
import { adminClient, ctxFor, makeTemplates, secret, siteFor, systemNamed, vmsOf } from '../helpers/vsphere-site';
import { simControl, startVcsim, type Vcsim } from '../helpers/vcsim';

let sim: Vcsim;
let site: SiteConfig;
let root: string;
const providers: VsphereProvider[] = [];
const newProvider = (on: SiteConfig = site): VsphereProvider => {
  const p = new VsphereProvider({ config: vmsOf(on), secret, guestShutdownTimeoutMs: 5000 });
  providers.push(p);
  return p;
};

beforeAll(async () => {
  sim = await startVcsim({ mode: 'vcenter-like' });
  await makeTemplates(sim, ['tpl-debian12', 'tpl-rocky9']);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-vcl-'));
  site = siteFor(sim, root);
}, 300_000);
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await sim?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

async function vmNamed(name: string): Promise<string[]> {
  const c = adminClient(sim);
  const sc = await c.serviceContent();
  const objs = await retrieveView(c, sc.rootFolder, [{ type: 'VirtualMachine', paths: ['name'] }]);
  await c.logout();
  return objs.filter((o) => o.props.get('name')?.text === name).map((o) => o.obj.value);
}

/** plan + apply for the given systems with only the vSphere provider; apply's progress lines as the CLI prints them. */
async function planAndApply(
  systems: DesiredSystem[],
  onLine: (line: string) => void = () => {},
): Promise<{ lines: string[]; report: ApplyReport; planned: Plan }> {
  const p = newProvider();
  const ctx = ctxFor(site, 'abc123');
  const planned = plan({
    systems,
    site,
    providers: [p],
    observations: new Map([['vm', await p.observe(ctx)]]),
    maxDeletes: 3,
    now: new Date(),
  });
  const lines: string[] = [];
  const print = progressPrinter((l) => {
    lines.push(l);
    onLine(l);
  }, planned.actions.length);
  const report = await applyPlan({
    plan: planned,
    systems,
    providers: [p],
    observations: new Map([['vm', await p.observe(ctx)]]),
    ctx,
    concurrency: 2,
    retry: { attempts: 1, baseDelayMs: 1 },
    onEvent: print,
  });
  return { lines, report, planned };
}

test("apply of a create whose clone task runs 5 s shows the task's progress in its progress lines, then completes", async () => {
  await simControl(sim, 'task-rule', { method: 'CloneVM_Task', name: 'slow-01', delayMs: 5000, count: 1 });
  const sys = systemNamed('slow-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:03:00:01' } });
  const t0 = Date.now();
  const { lines, report } = await planAndApply([sys]);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(5000);
  expect(report.ok).toBe(true);
  const clone = lines.filter((l) => l.startsWith('  ⋯ vm         create  slow-01: clone task-'));
  expect(clone[0]).toMatch(/clone task-\d+ (queued|running)/);
  const pcts = clone
    .map((l) => / running (\d+)%$/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined)
    .map(Number);
  expect(pcts.length).toBeGreaterThanOrEqual(3); // polled with backoff up to 2 s: several distinct steps
  expect([...pcts].sort((a, b) => a - b)).toEqual(pcts);
  expect(lines[lines.length - 1]).toMatch(/^ {2}✓ vm {9}create {2}slow-01 \(\d+\.\ds\) \[1\/1\]$/);
  expect(await vmNamed('slow-01')).toHaveLength(1);
}, 30_000);

test('a clone that fails after 3 s with a fault in info.error is reported with the fault; nothing is left, the next plan creates again', async () => {
  await simControl(sim, 'task-rule', {
    method: 'CloneVM_Task',
    name: 'fail-01',
    delayMs: 3000,
    fault: 'InsufficientMemoryResourcesFault',
    count: 1,
  });
  const sys = systemNamed('fail-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:03:00:02' } });
  const p = newProvider();
  const t0 = Date.now();
  const err = await p
    .create(sys, p.desired(sys, { ip: '', mac: sys.network.mac })!, { ip: '', mac: sys.network.mac }, ctxFor(site))
    .then(
      () => new Error('expected a failure'),
      (e: unknown) => e as Error,
    );
  expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
  expect(err.message).toMatch(
    /system fail-01: vSphere task task-\d+ \(clone fail-01 from template tpl-debian12\) failed: InsufficientMemoryResourcesFault .*The available Memory resources in the parent resource pool are insufficient for the operation\..*no VM was created, the next run clones again/,
  );
  expect(await vmNamed('fail-01')).toEqual([]);
  expect(await p.adoptCreated(sys, {}, ctxFor(site))).toBeUndefined(); // the engine's journal entry is cleared: nothing to adopt
  const q = newProvider();
  const planned = plan({
    systems: [sys],
    site,
    providers: [q],
    observations: new Map([['vm', await q.observe(ctxFor(site))]]),
    maxDeletes: 3,
    now: new Date(),
  });
  expect(planned.actions).toEqual([expect.objectContaining({ system: 'fail-01', kind: 'vm', action: 'create' })]);
  expect(planned.actions[0]!.blocked).toBeUndefined();
}, 30_000);

test('a clone still running at its timeout is cancelled (clones are cancelable) and the error says nothing is left', async () => {
  await simControl(sim, 'task-rule', { method: 'CloneVM_Task', name: 'stuck-01', delayMs: 20_000, count: 1 });
  const short = siteFor(sim, root, { taskTimeoutSeconds: 1 });
  const sys = systemNamed('stuck-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:03:00:03' } });
  const p = newProvider(short);
  const err = await p
    .create(sys, p.desired(sys, { ip: '', mac: sys.network.mac })!, { ip: '', mac: sys.network.mac }, ctxFor(short))
    .then(
      () => new Error('expected a failure'),
      (e: unknown) => e as Error,
    );
  expect(err.message).toMatch(
    /vSphere task task-\d+ \(clone stuck-01 .*\) was (queued|running) at \d+% after 1 s; shipshape cancelled it and vCenter rolled it back, so nothing of it is left/,
  );
  const state = await simControl<{
    tasks: { method: string; target: string; state: string; cancelRequested: boolean }[];
  }>(sim, 'state');
  expect(state.tasks.find((t) => t.target === 'stuck-01')).toMatchObject({ state: 'done', cancelRequested: true });
  expect(await vmNamed('stuck-01')).toEqual([]);
}, 30_000);

test('a second VM of the same name is refused by the harness (DuplicateName) and foreseen by the plan as blocked', async () => {
  const c = adminClient(sim);
  const tpl = (await findByInventoryPath(c, 'DC0/vm/tpl-debian12'))!;
  const pool = (await findByInventoryPath(c, 'DC0/host/DC0_C0/Resources'))!;
  const folder = (await findByInventoryPath(c, 'DC0/vm'))!;
  const clone = (name: string) =>
    runTask(
      c,
      'CloneVM_Task',
      ref('_this', tpl) +
        ref('folder', folder) +
        text('name', name) +
        `<spec><location>${ref('pool', pool)}</location><template>false</template><powerOn>false</powerOn></spec>`,
      { timeoutMs: 30_000, what: `clone ${name}` },
    );
  await clone('dup-02');
  const err = await clone('dup-02').then(
    () => new Error('expected a failure'),
    (e: unknown) => e as Error,
  );
  expect(err).toBeInstanceOf(DuplicateNameError);
  expect(err.message).toContain("The name 'dup-02' already exists.");
  await c.logout();
  expect(await vmNamed('dup-02')).toHaveLength(1);

  const inRoot = siteFor(sim, root, { folder: '' });
  const sys = systemNamed('dup-02', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:03:00:04' } });
  const p = newProvider(inRoot);
  const planned = plan({
    systems: [sys],
    site: inRoot,
    providers: [p],
    observations: new Map([['vm', await p.observe(ctxFor(inRoot))]]),
    maxDeletes: 3,
    now: new Date(),
  });
  expect(planned.actions).toEqual([
    expect.objectContaining({
      system: 'dup-02',
      action: 'create',
      blockedCode: 'collides',
      blocked: expect.stringMatching(
        /already exists without shipshape's marker; creating it again would duplicate it\. Adopt it \(`shipshape adopt dup-02`/,
      ),
    }),
  ]);
  expect(planned.summary.blocked).toBe(1);
});

test('a session that expires in the middle of an apply (while the clone runs) is renewed and the apply completes', async () => {
  await simControl(sim, 'task-rule', { method: 'CloneVM_Task', name: 'expire-01', delayMs: 1500, count: 1 });
  const sys = systemNamed('expire-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:03:00:05' } });
  const before = (await simControl<{ expiredSessions: number }>(sim, 'state')).expiredSessions;
  let expired = false;
  const { report, lines } = await planAndApply([sys], (line) => {
    // The clone is running on the server: end every session now, as vCenter's idle timeout would.
    if (!expired && / running /.test(line)) {
      expired = true;
      void simControl(sim, 'expire-sessions');
    }
  });
  expect(expired).toBe(true);
  expect(report.ok).toBe(true);
  expect(lines.some((l) => l.startsWith('  ✓ vm         create  expire-01'))).toBe(true);
  expect((await simControl<{ expiredSessions: number }>(sim, 'state')).expiredSessions).toBeGreaterThan(before);
  expect(await vmNamed('expire-01')).toHaveLength(1);
}, 30_000);

test('sessions an administrator ends (TerminateSession of every other session) while a clone runs: the clone still finishes and the apply completes', async () => {
  await simControl(sim, 'task-rule', { method: 'CloneVM_Task', name: 'terminated-01', delayMs: 1500, count: 1 });
  const sys = systemNamed('terminated-01', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:03:00:06' } });
  const admin = adminClient(sim);
  const terminateOthers = async (): Promise<number> => {
    const sc = await admin.serviceContent();
    const [sm] = await retrieveObjects(
      admin,
      [sc.sessionManager],
      [{ type: 'SessionManager', paths: ['sessionList', 'currentSession'] }],
    );
    const own = sm?.props.get('currentSession')?.children.find((k) => k.name === 'key')?.text;
    const others = (sm?.props.get('sessionList')?.children ?? [])
      .map((s) => s.children.find((k) => k.name === 'key')!.text)
      .filter((k) => k !== own);
    if (others.length === 0) return 0;
    await admin.call(
      'TerminateSession',
      ref('_this', sc.sessionManager) + others.map((k) => `<sessionId>${k}</sessionId>`).join(''),
    );
    return others.length;
  };
  let ended: Promise<number> | undefined;
  const { report, lines } = await planAndApply([sys], (line) => {
    // The clone runs on the server: an administrator ends every session but their own (vSphere
    // Client, Sessions view). vCenter's tasks run on in the server, so the clone must still land.
    if (!ended && / running /.test(line)) ended = terminateOthers();
  });
  expect(await ended).toBeGreaterThan(0);
  expect(report.ok).toBe(true);
  expect(lines.some((l) => l.startsWith('  ✓ vm         create  terminated-01'))).toBe(true);
  expect(await vmNamed('terminated-01')).toHaveLength(1);
  await admin.logout();
}, 30_000);

test('a paged read whose session expires between pages starts over with a new view and misses nothing', async () => {
  const c = adminClient(sim);
  const sc = await c.serviceContent();
  const all = await retrieveView(c, sc.rootFolder, [{ type: 'VirtualMachine', paths: ['name'] }]);
  await simControl(sim, 'settings', { idleMs: 300 });
  try {
    let pages = 0;
    const names = await retrieveView(c, sc.rootFolder, [{ type: 'VirtualMachine', paths: ['name'] }], 2, (page) => {
      if (++pages === 1) {
        const until = Date.now() + 400;
        while (Date.now() < until) {
          /* idle longer than the server allows */
        }
      }
      return page.map((o) => o.props.get('name')!.text);
    });
    expect(names.sort()).toEqual(all.map((o) => o.props.get('name')!.text).sort());
    expect(pages).toBeGreaterThan(Math.ceil(all.length / 2)); // the first pages were read twice
  } finally {
    await simControl(sim, 'settings', { idleMs: 30 * 60_000 });
    await c.logout();
  }
});

test('extraConfig and SetField replace values as vCenter does (vcsim appends)', async () => {
  const c = adminClient(sim);
  const vm = (await findByInventoryPath(c, 'DC0/vm/dup-02'))!;
  const set = (v: string) =>
    runTask(
      c,
      'ReconfigVM_Task',
      ref('_this', vm) +
        `<spec><extraConfig><key>guestinfo.k</key><value xsi:type="xsd:string">${v}</value></extraConfig></spec>`,
      { timeoutMs: 30_000, what: 'set' },
    );
  await set('1');
  await set('2');
  const read = async (): Promise<string[]> => {
    const [o] = await retrieveObjects(
      c,
      [vm],
      [{ type: 'VirtualMachine', paths: ['config.extraConfig', 'customValue'] }],
    );
    return [
      ...(o!.props.get('config.extraConfig')?.children ?? []),
      ...(o!.props.get('customValue')?.children ?? []),
    ].map(
      (ov: XNode) =>
        `${ov.children.find((x) => x.name === 'key')!.text}=${ov.children.find((x) => x.name === 'value')!.text}`,
    );
  };
  expect((await read()).filter((kv) => kv.startsWith('guestinfo.k='))).toEqual(['guestinfo.k=2']);
  await set('');
  expect((await read()).filter((kv) => kv.startsWith('guestinfo.k='))).toEqual([]);
  const def = await c.call(
    'AddCustomFieldDef',
    '<_this type="CustomFieldsManager">CustomFieldsManager</_this><name>owner</name><moType>VirtualMachine</moType>',
  );
  const key = def.children[0]!.children.find((x) => x.name === 'key')!.text;
  for (const v of ['team-a', 'team-b'])
    await c.call(
      'SetField',
      `<_this type="CustomFieldsManager">CustomFieldsManager</_this>${ref('entity', vm)}<key>${key}</key><value>${v}</value>`,
    );
  expect((await read()).filter((kv) => kv.startsWith(`${key}=`))).toEqual([`${key}=team-b`]);
  await c.logout();
});

test('a reconfigure still running at its timeout is left running (vCenter cannot cancel it) and the error says it may still finish', async () => {
  await simControl(sim, 'task-rule', { method: 'ReconfigVM_Task', name: 'dup-02', delayMs: 3000, count: 1 });
  const c = adminClient(sim);
  const vm = (await findByInventoryPath(c, 'DC0/vm/dup-02'))!;
  const err = await runTask(c, 'ReconfigVM_Task', ref('_this', vm) + '<spec><annotation>slow</annotation></spec>', {
    timeoutMs: 1000,
    what: 'reconfigure dup-02',
  }).then(
    () => new Error('expected a failure'),
    (e: unknown) => e as Error,
  );
  expect(err).toBeInstanceOf(TaskTimeoutError);
  expect(err.message).toMatch(
    /vSphere task task-\d+ \(reconfigure dup-02\) still (queued|running) at \d+% after 1 s; vCenter cannot cancel this kind of task, so it is still running and may finish/,
  );
  const state = await simControl<{ tasks: { method: string; target: string; cancelRequested: boolean }[] }>(
    sim,
    'state',
  );
  expect(
    state.tasks.filter((t) => t.method === 'ReconfigVM_Task' && t.target === 'dup-02').every((t) => !t.cancelRequested),
  ).toBe(true);
  await c.logout();
});

describe('2,500 VMs', () => {
  let big: Vcsim;
  beforeAll(async () => {
    big = await startVcsim({ mode: 'vcenter-like', args: ['-vm', '2500'] });
  }, 120_000);
  afterAll(async () => {
    await big?.stop();
  });

  test('observe reads them in pages of maxObjects 500 (RetrievePropertiesEx + 5 ContinueRetrievePropertiesEx), leaving no token open', async () => {
    const bigSite = siteFor(big, root, { folder: '' });
    const p = new VsphereProvider({ config: vmsOf(bigSite), secret });
    providers.push(p);
    const before = Date.now();
    const obs = await p.observe(ctxFor(bigSite));
    expect(obs.resources).toHaveLength(2500);
    // FindByInventoryPath, CreateContainerView, RetrievePropertiesEx, 5 × Continue (the datacenter view holds the
    // 2,500 VMs plus the folders, clusters, pools and hosts whose names placement needs: six pages of 500), DestroyView,
    // plus the first run's vimServiceVersions.xml, RetrieveServiceContent and Login; no device read (none is ours).
    expect(obs.roundTrips).toBe(3 + 1 + 1 + 1 + 5 + 1);
    expect(Date.now() - before).toBeLessThan(30_000);
    expect(await simControl<{ openTokens: number }>(big, 'state')).toMatchObject({ openTokens: 0 });
    expect(obs.about).toEqual({ server: 'VMware vCenter Server 8.0.2 build-22385739', apiVersion: '8.0.2.0' });
    const planned = plan({
      systems: [],
      site: bigSite,
      providers: [p],
      observations: new Map([['vm', obs]]),
      maxDeletes: 3,
      now: new Date(),
    });
    expect(renderText(planned, { colour: false })).toContain(
      'vm: server VMware vCenter Server 8.0.2 build-22385739, apiVersion 8.0.2.0',
    );
  }, 120_000);

  test('a reader that stops after the first page cancels the rest (CancelRetrievePropertiesEx)', async () => {
    const c = new VimClient({ url: big.url, username: 'admin', password: 'x', tls: { caFile: big.caFile } });
    const sc = await c.serviceContent();
    const view = (
      await c.call(
        'CreateContainerView',
        ref('_this', sc.viewManager) +
          ref('container', sc.rootFolder) +
          '<type>VirtualMachine</type><recursive>true</recursive>',
      )
    ).children[0]!;
    const before = await simControl<{ cancelledTokens: number }>(big, 'state');
    const spec = `<propSet><type>VirtualMachine</type><pathSet>name</pathSet></propSet><objectSet>${ref('obj', { type: 'ContainerView', value: view.text })}<skip>true</skip><selectSet xsi:type="TraversalSpec"><name>v</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet>`;
    for await (const page of retrievePages(c, spec, 500)) {
      expect(page.length).toBeLessThanOrEqual(500);
      break;
    }
    expect(await simControl(big, 'state')).toMatchObject({
      openTokens: 0,
      cancelledTokens: before.cancelledTokens + 1,
    });
    await c.logout();
  }, 60_000);
});

describe('version negotiation', () => {
  test('the client talks the highest version both sides speak: 8.0.2.0 on the vCenter-like 8.0.2, 7.0.3.0 on 7.0.3, 6.5 on plain vcsim', async () => {
    const v7 = await startVcsim({ mode: 'vcenter-like', args: ['-api-version', '7.0.3'] });
    const plain = await startVcsim();
    try {
      const got: string[] = [];
      for (const s of [sim, v7, plain]) {
        const c = new VimClient({ url: s.url, username: 'admin', password: 'x', tls: { caFile: s.caFile } });
        const sc = await c.serviceContent();
        got.push(sc.negotiatedVersion);
        await c.login(); // a call with the negotiated SOAPAction is accepted
        await c.logout();
      }
      expect(got).toEqual(['8.0.2.0', '7.0.3.0', '6.5']);
    } finally {
      await v7.stop();
      await plain.stop();
    }
  }, 120_000);
});
