/**
 * Which providers a site needs, and how each is built. A backend that shipshape.yaml configures
 * but whose provider does not exist yet stops the command with a clear message: the CLI never
 * pretends to have observed or changed something it cannot reach.
 */
import { UserError, type Logger, type Provider } from '../engine/contract';
import type { LoadResult } from '../manifest';
import type { SecretRef, SiteConfig } from '../manifest/site';
import { SshPool } from '../transport/ssh';
import { DnsProvider } from './dns/provider';
import { DhcpProvider } from './dhcp/provider';
import { resolveSecret } from '../manifest';
import { createIdoitClient } from './idoit/site-client';
import { IdoitIpamProvider } from './idoit/ipam';
import { IdoitCmdbProvider } from './idoit/cmdb';
import { httpLabInstaller, InstallProvider } from './install/provider';
import { installStateDir } from './install/store';
import { vsphereProvider, VsphereProvider } from './vsphere';
import { SpecialiseProvider } from './specialise/provider';

export interface ProviderDeps {
  repo: LoadResult;
  site: SiteConfig;
  log: Logger;
  /** Where providers keep what a crash must not lose (create journals). */
  stateDir: string;
}

const secrets = (site: SiteConfig) => (ref: SecretRef) => resolveSecret(ref, site.root);

/** One SSH connection per server per run, shared by the DNS and DHCP steps (closing it twice is harmless). */
const pools = new WeakMap<SiteConfig, SshPool>();
function sshPool(site: SiteConfig): SshPool {
  let pool = pools.get(site);
  if (!pool) pools.set(site, (pool = new SshPool({ readSecret: secrets(site), root: site.root })));
  return pool;
}

interface Entry {
  name: string;
  issue: number;
  configured: (site: SiteConfig) => boolean;
  build?: (deps: ProviderDeps) => Provider[];
}

const ENTRIES: Entry[] = [
  {
    name: 'i-doit (IPAM and CMDB)',
    issue: 4,
    configured: (s) => !!s.idoit,
    build: ({ site, repo }) => {
      // One client (one session) shared by both steps; the IPAM knows every declared address.
      const client = createIdoitClient(site, secrets(site));
      return [new IdoitIpamProvider({ client, site, systems: repo.systems }), new IdoitCmdbProvider({ client, site })];
    },
  },
  {
    name: 'DNS',
    issue: 5,
    configured: (s) => s.dns.zones.length > 0,
    build: ({ site }) => [new DnsProvider({ readSecret: secrets(site), pool: sshPool(site) })],
  },
  {
    name: 'DHCP',
    issue: 5,
    configured: (s) => s.dhcp.servers.length > 0,
    build: ({ site }) => [new DhcpProvider({ readSecret: secrets(site), pool: sshPool(site) })],
  },
  {
    name: 'vSphere',
    issue: 3,
    configured: (s) => !!s.vsphere,
    build: ({ site, stateDir }) => [vsphereProvider({ stateDir, site, secret: secrets(site) })],
  },
  {
    name: 'installation (provisioning server)',
    issue: 6,
    configured: (s) => !!s.provisioning,
    build: ({ repo, site, stateDir }) => [
      new InstallProvider({
        os: repo.os,
        dir: installStateDir(stateDir),
        secret: secrets(site),
        // A vcsim VM cannot run an installer: on a lab site (only there) a stand-in plays its part.
        ...(site.lab && site.provisioning ? { labInstaller: httpLabInstaller(site.provisioning.baseUrl) } : {}),
      }),
    ],
  },
  {
    name: 'specialisation (roles over SSH)',
    issue: 7,
    configured: (s) => !!s.specialise,
    build: ({ site, repo }) => [new SpecialiseProvider({ site, roles: repo.roles, systems: repo.systems })],
  },
];

export function buildProviders(deps: ProviderDeps): Provider[] {
  const configured = ENTRIES.filter((e) => e.configured(deps.site));
  if (configured.length === 0) {
    throw new UserError('shipshape.yaml configures no backend (vsphere, idoit, dns, dhcp): there is nothing to observe or change');
  }
  const missing = configured.filter((e) => !e.build);
  if (missing.length) {
    const list = missing.map((e) => `${e.name} (issue #${e.issue})`).join(', ');
    throw new UserError(`shipshape.yaml configures backends whose providers are not built yet: ${list}. Nothing was observed or changed.`);
  }
  const providers = configured.flatMap((e) => e.build!(deps));
  // The install step boots its ISO through the vSphere provider's session.
  const vm = providers.find((p): p is VsphereProvider => p instanceof VsphereProvider);
  const install = providers.find((p): p is InstallProvider => p instanceof InstallProvider);
  if (vm && install) install.useMedia(vm.bootMedia());
  return providers;
}
