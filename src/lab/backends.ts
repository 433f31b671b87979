/**
 * The lab reads the settings of the backends it stands up (vcsim for `vsphere`, the i-doit emulator
 * for `idoit`, named, pdns_server and sshd for the DNS and DHCP backends). Engine code never does this: a run
 * hands each backend its config through its factory.
 */
import { configOf } from '../providers/backends';
import type { IscServer } from '../providers/dhcp/isc';
import type { KeaServer } from '../providers/dhcp/kea';
import type { BindSshZone } from '../providers/dns/bind-ssh';
import { powerdns, type PowerDnsZone } from '../providers/dns/powerdns';
import type { ServedZone } from '../providers/dns/dns-tools';
import { idoitCmdb, idoitIpam, type IdoitConfig } from '../providers/idoit';
import { vsphere, type VsphereConfig } from '../providers/vsphere';
import type { SiteConfig, SshEndpoint } from '../manifest/site';

export function labVsphere(site: SiteConfig): VsphereConfig | undefined {
  return configOf(vsphere, site.vms);
}

export function labIdoit(site: SiteConfig): IdoitConfig | undefined {
  return configOf(idoitIpam, site.ipam) ?? configOf(idoitCmdb, site.cmdb);
}

/** A zone of a BIND-speaking backend (bind-ssh or rfc2136): the lab's named serves both. */
export type LabZone = ServedZone & { backend: string } & Partial<Omit<BindSshZone, keyof ServedZone | 'backend'>>;

export function labZones(site: SiteConfig): LabZone[] {
  return site.dns.zones.filter((z) => z.backend !== powerdns.id) as unknown as LabZone[];
}

/** The zones of the `powerdns` backend: the lab's pdns_server serves them. */
export function labPdnsZones(site: SiteConfig): PowerDnsZone[] {
  return site.dns.zones.flatMap((z) => configOf(powerdns, z) ?? []);
}

/** A DHCP server of the isc or kea backend (both reached over the lab's sshd). */
export type LabDhcpServer = { name: string; backend: string; nets: string[]; ssh: SshEndpoint } & Partial<
  Omit<IscServer, 'backend'>
> &
  Partial<Omit<KeaServer, 'backend'>>;

export function labDhcpServers(site: SiteConfig): LabDhcpServer[] {
  return site.dhcp.servers as unknown as LabDhcpServer[];
}
