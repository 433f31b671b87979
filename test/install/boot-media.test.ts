/**
 * Boot media against vcsim (plain and vCenter-like): the per-system ISO is uploaded to the datastore (byte for byte), put in
 * the VM's CD-ROM, the VM is reset to boot it, and the ISO is taken out again after the install.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRepo } from '../../src/manifest';
import type { SiteConfig } from '../../src/manifest/site';
import { buildBootIso } from '../../src/providers/install/iso';
import { InstallProvider } from '../../src/providers/install/provider';
import { isoScript } from '../../src/providers/install/render';
import { retrieveObjects } from '../../src/providers/vsphere/inventory';
import { VsphereProvider } from '../../src/providers/vsphere/provider';
import { parseDevices } from '../../src/providers/vsphere/vm';
import { adminClient, ctxFor, makeTemplates, secret, siteFor, systemNamed, vmsOf } from '../helpers/vsphere-site';
import { SIM_MODES, startVcsim, type Vcsim } from '../helpers/vcsim';

describe.each(SIM_MODES)('%s', (mode) => {
  let sim: Vcsim;
  let site: SiteConfig;
  let root: string;
  let p: VsphereProvider;

  beforeAll(async () => {
    sim = await startVcsim({ mode });
    await makeTemplates(sim, ['tpl-debian12']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-media-'));
    site = siteFor(sim, root);
    p = new VsphereProvider({ config: vmsOf(site), secret });
  }, 300_000);
  afterAll(async () => {
    await p?.close();
    await sim?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function vmState(vmId: string): Promise<{ iso?: string; power: string }> {
    const c = adminClient(sim);
    try {
      const [o] = await retrieveObjects(
        c,
        [{ type: 'VirtualMachine', value: vmId }],
        [{ type: 'VirtualMachine', paths: ['config.hardware.device', 'runtime.powerState'] }],
      );
      const iso = parseDevices(o!.props.get('config.hardware.device')!, new Map()).cdroms[0]?.iso;
      return { ...(iso ? { iso } : {}), power: o!.props.get('runtime.powerState')!.text };
    } finally {
      await c.logout();
    }
  }

  function datastoreFile(rel: string): string | undefined {
    const ds = fs.readdirSync(sim.dir).find((d) => d.includes('LocalDS_0'));
    const f = ds && path.join(sim.dir, ds, rel);
    return f && fs.existsSync(f) ? f : undefined;
  }

  it('uploads the boot ISO, attaches it, resets the VM, and detaches the ISO after the install', async () => {
    const ctx = ctxFor(site);
    const system = systemNamed('media-01', {
      network: { net: 'dev-net', ip: '198.51.100.30', mac: '00:50:56:01:0a:0b' },
    });
    let resolved = { ip: '198.51.100.30', mac: '00:50:56:01:0a:0b' } as Parameters<VsphereProvider['resolve']>[2];
    const vm = await p.create(system, p.desired(system, resolved)!, resolved, ctx);
    resolved = p.resolve(system, vm, resolved);
    expect(typeof resolved.vmId).toBe('string');

    const iso = await buildBootIso({
      system: system.name,
      script: isoScript(
        { ip: '198.51.100.30', netmask: '255.255.255.0', gateway: '198.51.100.1', nameservers: ['198.51.100.2'] },
        'http://198.51.100.5:8088',
      ),
      outDir: root,
    });
    const media = p.bootMedia();
    const fileName = await media.attachIso(system, resolved, iso, ctx);
    expect(fileName).toBe(`[LocalDS_0] shipshape-install/${path.basename(iso)}`);
    const stored = datastoreFile(`shipshape-install/${path.basename(iso)}`);
    expect(stored).toBeDefined();
    expect(fs.readFileSync(stored!).equals(fs.readFileSync(iso))).toBe(true);
    expect((await vmState(resolved.vmId as string)).iso).toBe(fileName);

    await media.restart(system, resolved, ctx);
    expect((await vmState(resolved.vmId as string)).power).toBe('poweredOn');

    await media.detachIso(system, resolved, fileName, ctx);
    expect((await vmState(resolved.vmId as string)).iso).toBeUndefined();
    // Detaching twice is harmless (a resumed run after a crash).
    await media.detachIso(system, resolved, fileName, ctx);

    // The VM's own marker: with the state dir lost, the install step records it as built instead of reinstalling.
    expect(await media.installMarker(system, resolved, ctx)).toBeUndefined();
    await media.setInstallMarker(system, resolved, 'built', ctx);
    expect(await media.installMarker(system, resolved, ctx)).toBe('built');
    const withProv: SiteConfig = {
      ...site,
      provisioning: {
        listen: '127.0.0.1:0',
        baseUrl: 'http://127.0.0.1:9',
        mirrors: { debian12: 'http://127.0.0.1:9/d' },
        localMirrors: {},
        timezone: 'Etc/UTC',
        installTimeoutMinutes: 5,
        failedLogMaxKiB: 4,
      },
    };
    const { os: catalog } = await loadRepo(path.join(__dirname, '..', '..', 'examples', 'lab'));
    const install = new InstallProvider({ os: catalog, dir: path.join(root, 'fresh-state'), secret, media });
    const res = await install.create(system, { os: 'debian12', state: 'built' }, resolved, {
      ...ctxFor(withProv),
      lab: false,
    });
    expect(res.fields).toEqual({ os: 'debian12', state: 'built' });
    expect((await install.observe(ctx)).resources.map((r) => [r.system, r.fields.state])).toEqual([
      ['media-01', 'built'],
    ]);

    // A corrupt record (the lab's `{garbage`) neither stops observe nor the other systems: it is
    // named, moved aside, and rebuilt from the VM's marker.
    const dir = path.join(root, 'corrupt-state');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'media-01.json'), '{garbage');
    fs.copyFileSync(path.join(root, 'fresh-state', 'media-01.json'), path.join(dir, 'media-09.json'));
    fs.writeFileSync(
      path.join(dir, 'media-09.json'),
      fs.readFileSync(path.join(dir, 'media-09.json'), 'utf8').replace(/media-01/g, 'media-09'),
    );
    const warnings: string[] = [];
    const again = new InstallProvider({ os: catalog, dir, secret, media, onCorruptState: (m) => warnings.push(m) });
    expect((await again.observe(ctx)).resources.map((r) => r.system)).toEqual(['media-09']);
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `state file ${dir}/media-01.json was corrupt \\(not valid JSON.*\\); moved it to ${dir}/media-01.json.corrupt-.*rebuilt from its VM's marker`,
        ),
      ),
    ]);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.corrupt-'))).toHaveLength(1);
    const rebuilt = await again.create(system, { os: 'debian12', state: 'built' }, resolved, {
      ...ctxFor(withProv),
      lab: false,
    });
    expect(rebuilt.fields).toEqual({ os: 'debian12', state: 'built' });
  });

  it('a VM made for a system the install step installs stays off until the install powers it on (no power-on, then reset)', async () => {
    const ctx = ctxFor(site);
    const system = systemNamed('media-03', {
      network: { net: 'dev-net', ip: '198.51.100.32', mac: '00:50:56:01:0a:0d' },
    });
    const withProv = {
      ...site,
      provisioning: { listen: '127.0.0.1:0', baseUrl: 'http://127.0.0.1:9', installTimeoutMinutes: 5 },
    } as unknown as SiteConfig;
    const install = new InstallProvider({ os: {}, dir: path.join(root, 'boots-state'), secret });
    let resolved = {
      ip: '198.51.100.32',
      mac: '00:50:56:01:0a:0d',
      ...install.promises(system, withProv),
    } as Parameters<VsphereProvider['resolve']>[2];
    expect(resolved.bootsVm).toBe(true);
    const vm = await p.create(system, p.desired(system, resolved)!, resolved, ctx);
    resolved = p.resolve(system, vm, resolved);
    expect((await vmState(resolved.vmId as string)).power).toBe('poweredOff');
    await p.bootMedia().restart(system, resolved, ctx);
    expect((await vmState(resolved.vmId as string)).power).toBe('poweredOn');
    // Without the install step (no provisioning), a new VM is powered on by the vm step as before.
    const plain = systemNamed('media-04', {
      network: { net: 'dev-net', ip: '198.51.100.33', mac: '00:50:56:01:0a:0e' },
    });
    const r2 = { ip: '198.51.100.33', mac: '00:50:56:01:0a:0e', ...install.promises(plain, site) };
    const vm2 = await p.create(plain, p.desired(plain, r2)!, r2, ctx);
    expect((await vmState(vm2.id)).power).toBe('poweredOn');
  });

  it('says clearly when there is no VM to boot', async () => {
    await expect(
      p.bootMedia().restart(systemNamed('media-02'), { ip: '198.51.100.31', mac: '00:50:56:01:0a:0c' }, ctxFor(site)),
    ).rejects.toThrow(/the vm step resolved no VM/);
  });
});
