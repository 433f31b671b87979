/**
 * An address change of a system that is already installed: the IPAM, DNS, DHCP and the CMDB follow in
 * the same apply, but the installed OS has its network configuration from the install, and shipshape
 * does not log in to change it. The plan says what happens to the guest (src/providers/install/README.md,
 * "Changing the address of an installed system"):
 * - its net has a DHCP server: the OS was installed to take its address by DHCP, from the reservation
 *   that moves now; it answers on the new address once its lease renews (RFC 2131 §4.4.5) or it reboots;
 * - no DHCP server: the install set the address statically, and the guest keeps the old one.
 */
import type { SiteConfig } from '../manifest/site';
import type { DesiredSystem } from '../manifest/types';
import type { PlanWarning } from './types';

export function readdressWarning(system: DesiredSystem, site: SiteConfig, from: string, to: string): PlanWarning {
  const net = system.network.net;
  const dhcp = site.dhcp.servers.some((s) => s.nets.includes(net));
  return {
    system: system.name,
    kind: 'install',
    resourceId: system.name,
    code: 'readdress',
    message: dhcp
      ? `installed system moves from ${from} to ${to}: its DHCP reservation moves in this apply, and the guest takes the new address when it renews its lease (or reboots); until then it answers on ${from} and specialisation, which connects to ${to}, waits for the next apply`
      : `installed with the static address ${from} (net ${net} has no DHCP server): the guest keeps it, while the IPAM, DNS and the CMDB move to ${to}. Change the address inside the guest before applying, or reinstall (state: absent, apply, then present)`,
  };
}
