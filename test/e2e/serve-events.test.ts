/**
 * Event-driven `serve` against vcsim and the i-doit emulator: after the startup run, vCenter's
 * change feed (WaitForUpdatesEx on a private PropertyCollector) notices a VM edited by another
 * client without any full read (counted per SOAP method on serve's own session), and starts a run
 * of just that system: in apply mode it is set back, in drift mode the drift is recorded. The
 * harness's InvalidCollectorVersion makes the feed resync from nothing, and a change made while the
 * refused wait was held is still found. Stopping serve stops the feed and logs its session out. After a
 * change-feed run and after a scheduled run, the status page shows the VM as the run left it.
 */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServe, type RunningServe, type ServeOptions } from '../../src/cli/commands/serve';
import type { Io } from '../../src/cli/io';
import type { CallStats, VimClient } from '../../src/providers/vsphere/client';
import { retrieveObjects, retrieveView, runTask } from '../../src/providers/vsphere/inventory';
import type { VsphereProvider } from '../../src/providers/vsphere/provider';
import { ref, text } from '../../src/providers/vsphere/soap/xml';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { removeDir, tempDir } from '../helpers/daemon';
import { silentLog } from '../helpers/log';
import { SIM_MODES, simControl, startVcsim, type Vcsim } from '../helpers/vcsim';
import { adminClient, makeTemplates, PASSWORD, USER, vmsSectionYaml } from '../helpers/vsphere-site';

const examples = join(__dirname, '..', '..', 'examples', 'lab');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.each(SIM_MODES)('serve with the vSphere change feed (%s)', (mode) => {
  let work: string;
  let repo: string;
  let sim: Vcsim;
  let emu: IdoitEmulator;
  let admin: VimClient;
  const lines: string[] = [];
  /** serve's session's calls per method, copied when the first `change feed:` line after `mark` is printed. */
  let atNotice: Record<string, number> | undefined;
  /** The feed's counters at that moment. */
  let feedAtNotice: Record<string, number> | undefined;
  let feedStats: () => Record<string, number> | undefined;
  let watching = false;
  let stats: () => CallStats;

  const io: Io = {
    out: () => undefined,
    err: (l) => {
      lines.push(l);
      if (watching && !atNotice && l.startsWith('change feed:')) {
        atNotice = { ...stats().byMethod };
        feedAtNotice = { ...feedStats() };
      }
    },
    isTty: false,
  };

  beforeAll(async () => {
    work = tempDir('serve-events');
    repo = join(work, 'repo');
    sim = await startVcsim({ username: USER, password: PASSWORD, mode });
    await makeTemplates(sim, ['tpl-debian12']);
    emu = await startIdoitEmulator({
      stateFile: join(work, 'idoit.json'),
      apiKey: 'events-key',
      nets: [{ title: 'dev-net', cidr: '198.51.100.0/24', gateway: '198.51.100.1' }],
    } as never);
    process.env.SHIPSHAPE_EVENTS_VS_USER = USER;
    process.env.SHIPSHAPE_EVENTS_VS_PASSWORD = PASSWORD;
    process.env.SHIPSHAPE_EVENTS_IDOIT_KEY = 'events-key';
    for (const d of ['systems', 'profiles']) mkdirSync(join(repo, d), { recursive: true });
    cpSync(join(examples, 'os'), join(repo, 'os'), { recursive: true });
    writeFileSync(
      join(repo, 'shipshape.yaml'),
      `apiVersion: shipshape.dev/v1
kind: Site
spec:
  lab: true
${vmsSectionYaml(sim, 'SHIPSHAPE_EVENTS', { templates: { debian12: 'tpl-debian12' }, taskTimeoutSeconds: 60 })}
  ipam: { backend: idoit, url: ${emu.endpoint}, apiKey: "\${env:SHIPSHAPE_EVENTS_IDOIT_KEY}" }
  cmdb: { backend: idoit, url: ${emu.endpoint}, apiKey: "\${env:SHIPSHAPE_EVENTS_IDOIT_KEY}" }
  nets:
    dev-net: { cidr: 198.51.100.0/24, gateway: 198.51.100.1, domain: dev.example.com }
`,
    );
    writeFileSync(
      join(repo, 'profiles', 'small.yaml'),
      'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: small }\nspec:\n  cpu: 1\n  memoryMiB: 512\n  disks: [{ sizeGiB: 1 }]\n  os: debian12\n  lifecycle: { powerPolicy: allow-poweroff }\n',
    );
    for (const name of ['web-01', 'web-02'])
      writeFileSync(
        join(repo, 'systems', `${name}.yaml`),
        `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: ${name} }\nspec:\n  profile: small\n  network: { net: dev-net }\n`,
      );
    admin = adminClient(sim);
  }, 300_000);

  afterAll(async () => {
    await admin?.logout().catch(() => undefined);
    await emu?.close();
    await sim?.stop();
    if (work) removeDir(work);
  });

  async function vmRef(name: string) {
    const sc = await admin.serviceContent();
    const vms = await retrieveView(admin, sc.rootFolder, [{ type: 'VirtualMachine', paths: ['name'] }]);
    const vm = vms.find((v) => v.props.get('name')?.text === name);
    if (!vm) throw new Error(`no VM ${name}`);
    return vm.obj;
  }

  /** What another vCenter client does: a reconfigure serve did not make. */
  async function reconfigure(name: string, spec: string): Promise<void> {
    await runTask(admin, 'ReconfigVM_Task', ref('_this', await vmRef(name)) + `<spec>${spec}</spec>`, {
      timeoutMs: 30_000,
      what: `edit ${name}`,
    });
  }

  async function hardware(name: string): Promise<{ cpu: number; memory: number }> {
    const [o] = await retrieveObjects(
      admin,
      [await vmRef(name)],
      [{ type: 'VirtualMachine', paths: ['config.hardware.numCPU', 'config.hardware.memoryMB'] }],
    );
    return {
      cpu: Number(o!.props.get('config.hardware.numCPU')!.text),
      memory: Number(o!.props.get('config.hardware.memoryMB')!.text),
    };
  }

  async function sessions(): Promise<number> {
    const sc = await admin.serviceContent();
    const [sm] = await retrieveObjects(
      admin,
      [sc.sessionManager],
      [{ type: 'SessionManager', paths: ['sessionList'] }],
    );
    return sm?.props.get('sessionList')?.children.length ?? 0;
  }

  const since = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(Object.keys(b).flatMap((k) => (b[k]! - (a[k] ?? 0) ? [[k, b[k]! - (a[k] ?? 0)]] : [])));

  async function serve(m: 'apply' | 'drift', extra: Partial<ServeOptions> = {}): Promise<RunningServe> {
    const s = await startServe(
      {
        dir: repo,
        mode: m,
        listen: '127.0.0.1:0',
        graceSeconds: 5,
        stateDir: join(work, `state-${m}`),
        provisioning: false,
        ui: false,
        changeFeedDebounceMs: 100,
        ...extra,
      },
      io,
      silentLog,
    );
    stats = () => (s.pool.provider('vm') as VsphereProvider).callStats!;
    feedStats = () => s.pool.watchStats().vm;
    await until(
      'the startup run and the change feed',
      () => s.loop.runs >= 1 && !s.loop.busy && (extra.changeFeed === false || s.pool.watched.includes('vm')),
      120_000,
    );
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^run \\d+ ${m} \\w+ \\(startup\\)`)));
    return s;
  }

  test('apply mode: a CPU change made in vCenter is noticed through WaitForUpdatesEx alone and set back by a run of that system, without a full observe', async () => {
    const before = await sessions();
    const s = await serve('apply');
    try {
      expect(await hardware('web-01')).toEqual({ cpu: 1, memory: 512 });
      expect(await sessions()).toBe(before + 1); // serve's one session, kept for runs and the feed
      const mark = { ...stats().byMethod };
      const runs = s.loop.runs;
      const seen = lines.length;
      watching = true;
      const t0 = Date.now();
      await reconfigure('web-01', text('numCPUs', 3));
      await until('the notice', () => atNotice !== undefined);
      const noticeMs = Date.now() - t0;
      expect(lines.slice(seen)).toContainEqual(
        expect.stringMatching(/^change feed: web-01: vm cpu is 3, wanted 1 \(vm-\d+\)$/),
      );
      expect(noticeMs).toBeLessThan(5000);
      // Between the edit and the notice serve's session made waits and one read of the changed VM: no view, no paged read of all VMs.
      const toNotice = since(mark, atNotice!);
      expect(Object.keys(toNotice).sort()).toEqual(['RetrievePropertiesEx', 'WaitForUpdatesEx']);
      expect(toNotice.RetrievePropertiesEx).toBe(1);
      // The change arrived in a WaitForUpdatesEx answer; the one read after it was of that one VM.
      expect(feedAtNotice).toMatchObject({ versionFaults: 0, resyncs: 0, reads: 1, changed: 1 });
      expect(feedAtNotice!.updates).toBeGreaterThanOrEqual(1);

      await until('the run of web-01', () =>
        lines.slice(seen).some((l) => /^run \d+ apply \w+ \(change feed: web-01: vm cpu is 3, wanted 1/.test(l)),
      );
      await until('the loop to settle', () => !s.loop.busy);
      expect(lines.slice(seen)).toContainEqual(
        expect.stringMatching(
          /^run \d+ apply changed \(change feed: web-01: vm cpu is 3, wanted 1 \(vm-\d+\)\): 0 created, 1 updated/,
        ),
      );
      expect(await hardware('web-01')).toEqual({ cpu: 1, memory: 512 });
      // The run planned from the kept observations: it opened no view (observe's light read is a view of all VMs).
      const run = since(mark, stats().byMethod);
      expect(run.CreateContainerView).toBeUndefined();
      expect(run.FindByInventoryPath).toBeUndefined();
      expect(run.ReconfigVM_Task).toBeGreaterThanOrEqual(1);
      // Our own reconfigure comes back through the feed too, but matches the manifest: no further run.
      await sleep(1500);
      expect(s.loop.runs).toBe(runs + 1);
      expect(lines.slice(seen).filter((l) => l.startsWith('change feed:'))).toHaveLength(1);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toMatch(/shipshape_change_feed_resources_total\{kind="vm",drifted="true"\} [1-9]/);
      expect(metrics).toMatch(/shipshape_change_feed_resources_total\{kind="vm",drifted="false"\} [1-9]/);
    } finally {
      watching = false;
      atNotice = undefined;
      feedAtNotice = undefined;
      await s.stop();
    }
    // Stopped: the feed's collector is gone with the session, which was logged out.
    expect(s.pool.watched).toEqual([]);
    expect(await sessions()).toBe(before);
  }, 240_000);

  test('InvalidCollectorVersion: the feed resyncs from nothing and still finds a change made while the refused wait was held', async () => {
    const s = await serve('apply');
    try {
      const seen = lines.length;
      await simControl(sim, 'collector-version-fault', { count: 1, delayMs: 2500 });
      // Any change ends the wait in progress; the next one carries a version and is refused after 2.5 s.
      await reconfigure('web-02', '');
      await until(
        'the refused wait',
        async () => (await simControl<{ raised: number }>(sim, 'collector-version-fault')).raised >= 1,
      );
      await reconfigure('web-01', text('numCPUs', 4));
      await until('the notice after the resync', () =>
        lines.slice(seen).some((l) => /^change feed \(full resync\): web-01: vm cpu is 4, wanted 1/.test(l)),
      );
      expect(s.pool.watchStats().vm).toMatchObject({ versionFaults: 1, resyncs: 1 });
      await until('the run of web-01', () =>
        lines.slice(seen).some((l) => /^run \d+ apply changed \(change feed: .*web-01/.test(l)),
      );
      await until('the loop to settle', () => !s.loop.busy);
      expect(await hardware('web-01')).toMatchObject({ cpu: 1 });
      // The feed goes on after the resync: the next change arrives the ordinary way.
      await reconfigure('web-01', text('numCPUs', 2));
      await until('the next notice', () =>
        lines.slice(seen).some((l) => /^change feed: web-01: vm cpu is 2, wanted 1/.test(l)),
      );
      expect(s.pool.watchStats().vm).toMatchObject({ versionFaults: 1, resyncs: 1 });
      await until(
        'the run',
        () => lines.slice(seen).filter((l) => /^run \d+ apply changed \(change feed: .*web-01/.test(l)).length >= 2,
      );
      await until('the loop to settle', () => !s.loop.busy);
    } finally {
      await s.stop();
    }
  }, 240_000);

  if (mode === 'vcenter-like')
    test('an ended session: the next run logs in again, and the feed builds collector and filter anew in the new session at once', async () => {
      const s = await serve('apply');
      try {
        const seen = lines.length;
        await simControl(sim, 'expire-sessions');
        // vCenter ends sessions (idle timeout, restart, an administrator); the next run finds it and logs in again.
        const runs = s.loop.runs;
        await s.loop.trigger('a run after the session ended');
        expect(s.loop.runs).toBe(runs + 1);
        // The feed's wait in progress belonged to the old session: abandoned at the Login, not waited out (90 s).
        await until('the rebuilt feed', () => (s.pool.watchStats().vm?.rebuilds ?? 0) >= 1, 10_000);
        await reconfigure('web-01', text('numCPUs', 3));
        await until('the notice', () =>
          lines.slice(seen).some((l) => /^change feed: web-01: vm cpu is 3, wanted 1/.test(l)),
        );
        await until('the run', () =>
          lines.slice(seen).some((l) => /^run \d+ apply changed \(change feed: web-01/.test(l)),
        );
        await until('the loop to settle', () => !s.loop.busy);
        expect(await hardware('web-01')).toMatchObject({ cpu: 1 });
      } finally {
        await s.stop();
      }
    }, 240_000);

  /**
   * Serve's status page shows the estate as run `run` left it: the system's VM as the manifest wants it
   * (1 CPU, powered on), and nothing pending.
   */
  async function expectPageAfter(s: RunningServe, system: string, run: string | undefined): Promise<void> {
    const home = await (await fetch(`${s.url}/`)).text();
    const own = await (await fetch(`${s.url}/systems/${system}`)).text();
    expect(/Estate as observed by run <a href="\/runs\/(\d+)"/.exec(home)?.[1]).toBe(run);
    const vm = /<td>vm<\/td>[\s\S]*?<\/tr>/.exec(own)?.[0];
    expect(vm).toMatch(/<div>cpu: 1<\/div>/);
    expect(vm).toMatch(/<div>power: poweredOn<\/div>/);
    expect(home.slice(home.indexOf('id="pending"'), home.indexOf('id="runs"'))).toMatch(
      /No changes: the world matched the manifests at the last run/,
    );
  }

  /** The number of the run whose result line matches `re` (serve prints one line per finished run). */
  const runOf = (from: number, re: RegExp) =>
    lines.slice(from).flatMap((l) => (re.test(l) ? [/^run (\d+)/.exec(l)![1]] : []))[0];

  test('the status page after a change-feed run shows the VM as the run left it, not as the feed reported it', async () => {
    const s = await serve('apply', { ui: true });
    try {
      const seen = lines.length;
      await reconfigure('web-01', text('numCPUs', 3));
      await until(
        'the run of web-01',
        () => runOf(seen, /^run \d+ apply changed \(change feed: web-01: vm cpu is 3/) !== undefined,
      );
      await until('the loop to settle', () => !s.loop.busy);
      expect(await hardware('web-01')).toMatchObject({ cpu: 1 });
      await expectPageAfter(s, 'web-01', runOf(seen, /^run \d+ apply changed \(change feed/));
    } finally {
      await s.stop();
    }
  }, 240_000);

  test('the status page after a scheduled run shows the VM as the run left it', async () => {
    const s = await serve('apply', { ui: true, changeFeed: false });
    try {
      await reconfigure('web-02', text('numCPUs', 2));
      const seen = lines.length;
      await s.loop.trigger('schedule */5 * * * *'); // what the cron timer calls
      expect(await hardware('web-02')).toMatchObject({ cpu: 1 });
      await expectPageAfter(s, 'web-02', runOf(seen, /^run \d+ apply changed \(schedule/));
    } finally {
      await s.stop();
    }
  }, 240_000);

  test('drift mode: the change is recorded as drift of that system, and nothing is changed in vCenter', async () => {
    const s = await serve('drift');
    try {
      const seen = lines.length;
      await reconfigure('web-02', text('memoryMB', 1024));
      await until('the drift run', () =>
        lines
          .slice(seen)
          .some((l) => /^run \d+ drift \w+ \(change feed: web-02: vm memoryMiB is 1024, wanted 512/.test(l)),
      );
      expect(lines.slice(seen)).toContainEqual(
        expect.stringMatching(/^run \d+ drift \w+ \(change feed: web-02: .*\): 1 drifted field\(s\), 0 orphan\(s\)/),
      );
      expect(await hardware('web-02')).toEqual({ cpu: 1, memory: 1024 });
    } finally {
      await s.stop();
    }
  }, 240_000);
});
