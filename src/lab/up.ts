/**
 * `shipshape lab up`: starts the whole world of a lab site on loopback, detached, and records it in .lab/.
 * Only for a site that says `lab: true`. Running again while everything runs changes nothing; a half-running
 * lab is stopped and started again. vcsim keeps its inventory in memory, so every start is a clean world:
 * the emulator's state, the zones and the DHCP files are reset with it (they would disagree otherwise).
 */
import { labDhcpServers, labIdoit, labPdnsZones, labVsphere, labZones } from './backends';
import { mkdirSync, rmSync } from 'node:fs';
import type { SiteConfig } from '../manifest/site';
import { LabCredentials } from './credentials';
import type { LabContext } from './context';
import { LabError, portFree } from './process';
import { labDir, labState, stopLab, writeRecord, type LabRecord } from './record';
import { startLabNamed } from './start-dns';
import { labPdnsPorts, startLabPdns } from './start-pdns';
import { startLabDhcp, startLabSshd, labUser } from './start-targets';
import { startLabIdoit, startLabVcsim } from './start-vsphere-idoit';
import { labStateDir, startLabProvisioning } from './start-provisioning';
import { removeStaleNamespaces, stopLabSystems } from './systems';

/** What the lab stands in for: said at every start, never silent. */
export function labNotes(site: SiteConfig): string[] {
  const notes = [
    'vSphere is vcsim: VMs are clones of the lab templates; no operating system is installed or boots inside them.',
    'DHCP: reservations are written and checked (dhcpd -t, Kea config-get), but no DHCP server serves a network.',
  ];
  if (site.provisioning) {
    notes.push(
      `OS install is simulated: the provisioning server (${site.provisioning.baseUrl}) serves real boot scripts and answer files, but a stand-in, not an installer, fetches them and reports "built".`,
    );
  }
  if (site.provisioning && site.specialise) {
    notes.push(
      "Each system the stand-in reports built gets a network namespace holding its address with its own sshd: roles run there over SSH, on files below specialise.rootPrefix (the namespaces share this machine's file system).",
    );
  }
  return notes;
}

function ports(site: SiteConfig): { what: string; port: number }[] {
  const out: { what: string; port: number }[] = [];
  const v = labVsphere(site);
  if (v) out.push({ what: 'vcsim (vms.url)', port: Number(new URL(v.url).port || 443) });
  const i = labIdoit(site);
  if (i) out.push({ what: 'i-doit emulator (ipam.url)', port: Number(new URL(i.url).port || 80) });
  const z = labZones(site)[0];
  if (z) out.push({ what: 'named (dns.zones[].server)', port: z.server.port });
  out.push(...labPdnsPorts(labPdnsZones(site)));
  const ssh = labZones(site).find((x) => x.ssh)?.ssh ?? labDhcpServers(site)[0]?.ssh;
  if (ssh) out.push({ what: 'sshd (ssh.port)', port: ssh.port });
  if (site.provisioning)
    out.push({
      what: 'provisioning server (provisioning.listen)',
      port: Number(site.provisioning.listen.split(':').pop()),
    });
  return out;
}

export interface UpResult {
  record: LabRecord;
  alreadyRunning: boolean;
}

export async function labUp(site: SiteConfig, progress: (line: string) => void): Promise<UpResult> {
  if (!site.lab) {
    throw new LabError(
      'shipshape.yaml does not say `lab: true`: the lab only starts for a lab site and never stands in for a real one',
    );
  }
  const root = site.root;
  const now = labState(root);
  if (now.record && now.daemons.length > 0 && now.daemons.every((d) => d.running))
    return { record: now.record, alreadyRunning: true };
  if (now.record) {
    progress('a previous lab is partly running: stopping it first');
    await stopLab(root, progress);
  }
  for (const p of ports(site)) {
    if (!(await portFree(p.port))) {
      throw new LabError(
        `127.0.0.1:${p.port} for ${p.what} is taken: another lab (\`shipshape lab down\` in its repo) or service listens there; stop it or change the port in shipshape.yaml`,
      );
    }
  }
  mkdirSync(labDir(root), { recursive: true });
  // Namespaces of this lab's last run and of labs that crashed: their addresses would clash with the new world's.
  await stopLabSystems(root, progress);
  removeStaleNamespaces(progress);
  // A new world: install records, create journals and drift history of the last one would lie about it.
  rmSync(labStateDir(root), { recursive: true, force: true });
  const record: LabRecord = { startedAt: new Date().toISOString(), daemons: [], notes: labNotes(site) };
  writeRecord(root, record);
  const user = labUser({ site });
  const c: LabContext = {
    site,
    root,
    dir: labDir(root),
    record,
    creds: new LabCredentials(root),
    progress,
    ...(user ? { user } : {}),
  };
  try {
    await startLabSshd(c);
    await startLabNamed(c);
    await startLabPdns(c);
    await startLabDhcp(c);
    await startLabIdoit(c);
    await startLabVcsim(c);
    // The key that seals ownership markers (generated once, kept where shipshape.yaml points).
    if (site.ownership) c.creds.provide(site.ownership.key, 'ownership.key');
    c.creds.save();
    await startLabProvisioning(c);
  } catch (e) {
    progress('start failed: stopping what was started');
    await stopLab(root, progress);
    throw e;
  }
  return { record, alreadyRunning: false };
}
