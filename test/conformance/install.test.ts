/**
 * The install step through the conformance suite, against the real provisioning server on loopback
 * and the lab's installer stand-in, which asks for the boot script and the answer file by MAC and
 * posts `built` (or `failed`) with the attempt's token, as a real installer does. Systems are on
 * dev-net of the example lab site, whose DHCP server makes the boot path `dhcp` (no boot ISO, so no
 * VM platform is needed here; the ISO path against vcsim is test/install/boot-media.test.ts).
 *
 * What is the operator's here: an install record lives in shipshape's own state dir, so nothing the
 * step observes is anyone else's. What the operator owns is the machine: a VM someone else
 * installed reaches this step as `installed: adopted` from the vm step, and the step must never
 * install it, record it or hand out boot files for it (the kind's own case below).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Provider, ProviderContext, Resolved } from '../../src/engine/contract';
import { httpLabInstaller } from '../../src/lab/installer';
import { loadRepo, type LoadResult } from '../../src/manifest';
import type { SiteConfig } from '../../src/manifest/site';
import type { DesiredSystem } from '../../src/manifest/types';
import { InstallProvider, type LabInstaller } from '../../src/providers/install/provider';
import { InstallStore } from '../../src/providers/install/store';
import { startProvisioningServer, type ProvisioningServer } from '../../src/provisioning/server';
import { silentLog } from '../helpers/log';
import { conformance } from './suite';

const ROOT = path.join(__dirname, '..', '..', 'examples', 'lab');
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIConformanceInstallKeyxxxxxxxxxxxxxxxxxxxxxxx conformance';
const hex = (n: number) => n.toString(16).padStart(2, '0');
let dir: string;
let srv: ProvisioningServer;
let repo: LoadResult;
let site: SiteConfig;
/** Systems whose next attempt the installer stand-in reports failed (the installer's log says why). */
const failNext = new Set<string>();

/** The lab stand-in, or, for a system in `failNext`, an installer that fetches its files and then reports failure. */
const installer = (): LabInstaller => {
  const ok = httpLabInstaller(srv.url);
  return async (job) => {
    if (!failNext.delete(job.system)) return ok(job);
    const macPath = job.mac.toLowerCase().replace(/:/g, '-');
    for (const p of [`/boot/${macPath}`, `/install/${macPath}`]) await (await fetch(`${srv.url}${p}`)).arrayBuffer();
    await fetch(`${srv.url}/failed/${job.token}`, { method: 'POST', body: 'partman: no disk found' });
  };
};

const provider = () =>
  new InstallProvider({
    os: repo.os,
    dir: path.join(dir, 'state'),
    secret: async (r) => process.env[r.ref.slice(6, -1)]!,
    labInstaller: installer(),
    pollMs: 20,
  });
const ctx = (): ProviderContext => ({ site, log: silentLog, lab: true, commit: 'abc1234' });
const system = (n: number, name = `c-${n}`): DesiredSystem => ({
  ...repo.systems.find((s) => s.name === 'web-dev-02')!,
  name,
  network: { net: 'dev-net', ip: `198.51.100.${(n % 240) + 10}`, mac: `00:50:56:05:${hex(n >> 8)}:${hex(n & 255)}` },
});

conformance({
  name: 'install/provisioning-server',
  // observe is one read of the state dir whatever its size; each install is a real exchange with the server
  // and a check of the rendered files (about 0.8 s here), so 40 keeps the case near half a minute.
  scale: [10, 40],
  async start() {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-conf-install-'));
    await fs.writeFile(path.join(dir, 'id.pub'), `${KEY}\n`);
    process.env.SHIPSHAPE_CONFORMANCE_ROOT_HASH = '$6$saltsaltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ';
    repo = await loadRepo(ROOT);
    // The stand-in asks from loopback for systems in documentation ranges: the server's lab exception.
    srv = await startProvisioningServer({
      listen: '127.0.0.1:0',
      stateDir: path.join(dir, 'state'),
      log: silentLog,
      labLoopback: true,
    });
    site = {
      ...repo.site!,
      lab: true,
      provisioning: {
        ...repo.site!.provisioning!,
        baseUrl: srv.url,
        sshPublicKeyFile: path.join(dir, 'id.pub'),
        rootPasswordHash: { ref: '${env:SHIPSHAPE_CONFORMANCE_ROOT_HASH}' },
      },
    };
  },
  async stop() {
    await srv?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  },
  provider: () => provider() as Provider,
  ctx,
  system: (n) => system(n),
  // The operator's machine: the vm step found it installed by someone else (its install marker says adopted).
  resolved: (s): Resolved => ({
    ip: s.network.ip,
    mac: s.network.mac,
    ...(s.name === 'theirs' ? { installed: 'adopted' as const } : {}),
  }),
  // A built system is never installed again, so no manifest edit asks for an update: the update this
  // step makes is a new attempt after one failed. System 1 is rebuilt with an attempt that fails.
  async beforeUpdate({ run }) {
    expect((await run([{ ...system(1), state: 'absent' }])).deleted).toEqual(['c-1']);
    failNext.add('c-1');
    const failed = await run([system(1)]);
    expect(failed.refused.map((r) => r.error.message)).toEqual([expect.stringContaining('partman: no disk found')]);
    expect((await new InstallStore(path.join(dir, 'state')).get('c-1'))?.state).toBe('failed');
  },
  notApplicable: {
    unowned:
      "an install record lives in shipshape's own state dir, never on a shared server, so the step observes nothing of anyone else's; the operator's machines reach it as VMs marked adopted (the case below)",
    collider:
      "the step holds nothing a system needs exclusively: the address and MAC are the ip and vm steps' (which refuse collisions), and a boot entry exists only for an attempt shipshape started",
    forged:
      "there is no marker on a shared server to forge: records are files in shipshape's state dir, written by shipshape alone",
    badCredentials:
      "the step logs in nowhere: it writes the provisioning server's state dir on this machine, and the installer proves itself with a per-attempt token the server checks (src/provisioning tests)",
  },
  also({ run, observe }) {
    it('a VM someone else installed (adopted) is never installed: no attempt, no record, no boot files, and a tombstone leaves it alone', async () => {
      const theirs = system(900, 'theirs');
      const r = await run([theirs]);
      expect({ created: r.created, updated: r.updated, refused: r.refused }).toEqual({
        created: [],
        updated: [],
        refused: [],
      });
      expect((await observe()).resources.filter((x) => x.system === 'theirs')).toEqual([]);
      expect(await new InstallStore(path.join(dir, 'state')).get('theirs')).toBeUndefined();
      // Its MAC gets no installer: the server tells it to boot from its disk.
      const boot = await (await fetch(`${srv.url}/boot/00-50-56-05-03-84`)).text();
      expect(boot).not.toMatch(/url=/);
      expect((await run([{ ...theirs, state: 'absent' }])).deleted).toEqual([]);
    });
  },
});
