/**
 * The vSphere backend through the conformance suite, against the vCenter-like vcsim harness (tasks
 * that take time, paging, DuplicateName, vCenter's fault texts). The operator's VM is a clone in
 * the managed folder without shipshape's marker. An update grows a disk (online, as on vCenter).
 * Round trips are compared at 5 and 40 VMs: each create is a real clone and reconfigure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Provider } from '../../src/engine/contract';
import type { SecretRef, SiteConfig } from '../../src/manifest/site';
import { VsphereProvider } from '../../src/providers/vsphere/provider';
import {
  cloneUnmarked,
  ctxFor,
  makeTemplates,
  PASSWORD,
  secret,
  siteFor,
  systemNamed,
  USER,
  vmsOf,
} from '../helpers/vsphere-site';
import { startVcsim, type Vcsim } from '../helpers/vcsim';
import { conformance } from './suite';

const hex = (n: number) => n.toString(16).padStart(2, '0');
let sim: Vcsim;
let root: string;
let site: SiteConfig;
const wrongPassword = async (r: SecretRef) => (r.ref === '${env:VS_PASSWORD}' ? 'not-the-password' : secret(r));

conformance({
  name: 'vms/vsphere',
  scale: [5, 40],
  async start() {
    sim = await startVcsim({ mode: 'vcenter-like', username: USER, password: PASSWORD });
    await makeTemplates(sim, ['tpl-debian12']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-conf-vs-'));
    site = siteFor(sim, root);
    await cloneUnmarked(sim, 'www');
  },
  async stop() {
    await sim?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  },
  provider: () => new VsphereProvider({ config: vmsOf(site), secret, guestShutdownTimeoutMs: 5000 }) as Provider,
  bad: () => ({
    provider: new VsphereProvider({ config: vmsOf(site), secret: wrongPassword }) as Provider,
    ctx: ctxFor(site),
  }),
  ctx: () => ctxFor(site, 'abc1234'),
  system: (n, changed) =>
    systemNamed(`c-${n}`, {
      network: { net: 'dev-net', ip: 'auto', mac: `00:50:56:03:${hex(n >> 8)}:${hex(n & 255)}` },
      disks: [{ sizeGiB: changed ? 11 : 10 }],
    }),
  resolved: (s) => ({ ip: '198.51.100.9', mac: s.network.mac }),
  foreignName: 'www',
  isForeign: (r) => r.system === 'www',
  notApplicable: {
    forged:
      "this harness's site runs without `ownership:` (unsealed markers); forged and copied seals on VMs are held to the same behaviour against vcsim in test/vsphere/ownership.test.ts",
  },
  collider: () => systemNamed('www', { network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:03:ff:ff' } }),
});
