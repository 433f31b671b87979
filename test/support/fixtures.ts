/**
 * The one builder of test systems, sites and provider contexts: planner, engine and provider tests
 * (DNS, DHCP, vSphere, i-doit) start from these and override what their backend needs.
 */
import type { ProviderContext } from '../../src/engine/contract';
import type { DesiredSystem } from '../../src/manifest/types';
import type { SiteConfig } from '../../src/manifest/site';
import { silentLog } from '../helpers/log';

export function system(name: string, over: Partial<DesiredSystem> = {}): DesiredSystem {
  return {
    name,
    state: 'present',
    labels: {},
    cpu: 2,
    memoryMiB: 4096,
    disks: [{ sizeGiB: 40 }],
    network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:00:00:01' },
    dns: { domain: 'dev.example.com', aliases: [] },
    os: 'debian12',
    roles: [],
    lifecycle: { protect: false, vmOnDelete: 'destroy', cmdbOnDelete: 'archive', powerPolicy: 'never' },
    file: `systems/${name}.yaml`,
    sources: {
      cpu: { file: `systems/${name}.yaml`, line: 8, col: 8 },
      memoryMiB: { file: 'profiles/web.yaml', line: 7, col: 14 },
    },
    ...over,
  };
}

export const site: SiteConfig = {
  root: '/repo',
  lab: false,
  nets: { 'dev-net': { title: 'dev-net', cidr: '10.0.0.0/24', gateway: '10.0.0.1', dnsServers: [] } },
  dns: { zones: [] },
  dhcp: { servers: [] },
  defaults: { concurrency: 4, maxDeletes: 3 },
};

/** A provider's run context on a test site (a lab site: stand-ins allowed), quiet. */
export function context(s: SiteConfig, commit?: string): ProviderContext {
  return { site: s, log: silentLog, lab: true, ...(commit ? { commit } : {}) };
}
