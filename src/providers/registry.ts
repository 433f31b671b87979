/**
 * Which providers a site needs, and how each is built: the backend the site config names for each
 * step, found in the registry (backends.ts) by (kind, id) and connected once with its validated
 * config. Steps are linked only through the capabilities providers declare (plugin.ts, contract.ts).
 */
import { labInstaller } from '../lab/installer';
import { moveLabSystem } from '../lab/systems';
import { UserError, type Logger, type Provider } from '../engine/contract';
import type { LoadResult } from '../manifest';
import { resolveSecret } from '../manifest/secrets';
import type { BackendSection, SecretRef, SiteConfig } from '../manifest/site';
import { SshPool } from '../transport/ssh';
import { backendFor } from './backends';
import { DhcpProvider } from './dhcp/provider';
import { DnsProvider } from './dns/provider';
import { InstallProvider } from './install/provider';
import { installStateDir } from './install/store';
import type { BackendKind, ConnectDeps } from './plugin';
import { SpecialiseProvider } from './specialise/provider';

export interface ProviderDeps {
  repo: LoadResult;
  site: SiteConfig;
  log: Logger;
  /** Where providers keep what a crash must not lose (create journals). */
  stateDir: string;
  /** Where install records are (the provisioning server's state dir) when not `stateDir`: a shard's run. */
  installStateDir?: string;
}

const secrets = (site: SiteConfig) => (ref: SecretRef) => resolveSecret(ref, site.root);

/** One SSH connection per server per run, shared by the DNS and DHCP steps (closing it twice is harmless). */
const pools = new WeakMap<SiteConfig, SshPool>();
function sshPool(site: SiteConfig): SshPool {
  let pool = pools.get(site);
  if (!pool) pools.set(site, (pool = new SshPool({ readSecret: secrets(site), root: site.root })));
  return pool;
}

function connectDeps(deps: ProviderDeps): ConnectDeps {
  const shared = new Map<string, unknown>();
  return {
    site: deps.site,
    repo: deps.repo,
    log: deps.log,
    stateDir: deps.stateDir,
    secret: secrets(deps.site),
    shared<T>(key: string, make: () => T): T {
      if (!shared.has(key)) shared.set(key, make());
      return shared.get(key) as T;
    },
  };
}

/** The step-level backend a section names, connected once with its config. */
function connect(
  kind: Extract<BackendKind, 'vms' | 'ipam' | 'cmdb'>,
  section: BackendSection,
  deps: ConnectDeps,
): Provider {
  const b = backendFor(kind, section.backend);
  return b.connect(section, deps);
}

export function buildProviders(deps: ProviderDeps): Provider[] {
  const { site, repo, stateDir } = deps;
  const providers: Provider[] = [];
  const cd = connectDeps(deps);
  if (site.ipam) providers.push(connect('ipam', site.ipam, cd));
  if (site.dns.zones.length > 0)
    providers.push(new DnsProvider({ readSecret: secrets(site), pool: sshPool(site), systems: repo.systems }));
  if (site.dhcp.servers.length > 0)
    providers.push(
      new DhcpProvider({
        readSecret: secrets(site),
        pool: sshPool(site),
        // A lab system follows its reservation at once (the lab's DHCP servers serve no interface).
        ...(site.lab ? { reserved: (system: string, ip: string) => moveLabSystem(site, system, ip) } : {}),
      }),
    );
  const vm = site.vms ? connect('vms', site.vms, cd) : undefined;
  if (vm) providers.push(vm);
  if (site.provisioning) {
    const install = new InstallProvider({
      os: repo.os,
      dir: installStateDir(deps.installStateDir ?? stateDir),
      secret: secrets(site),
      systems: repo.systems,
      // A vcsim VM cannot run an installer: on a lab site (only there) a stand-in plays its part.
      // The lab's stand-in answers at once: polling its local provisioning server often costs nothing.
      ...(site.lab ? { labInstaller: labInstaller({ ...site, provisioning: site.provisioning }), pollMs: 250 } : {}),
    });
    // The ISO path boots through the VM platform, when it offers boot media.
    const media = vm?.capabilities?.bootMedia;
    if (media) install.useMedia(media());
    providers.push(install);
  }
  if (site.specialise)
    providers.push(new SpecialiseProvider({ site, roles: repo.roles, systems: repo.systems, stateDir }));
  if (site.cmdb) providers.push(connect('cmdb', site.cmdb, cd));
  if (providers.length === 0) {
    throw new UserError(
      'shipshape.yaml configures no backend (vms, ipam, cmdb, dns, dhcp): there is nothing to observe or change',
    );
  }
  return providers;
}
