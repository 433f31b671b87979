/**
 * Test fixtures for the vSphere provider: a site config pointing at a vcsim, credentials through
 * the secret function (never in the site), desired systems, and the templates the site names.
 * Templates: vcsim's default model VMs are renamed to the site's template names, powered off and
 * marked as templates (no extra inventory, and the clone source looks like a real template).
 */
import { configOf } from '../../src/providers/backends';
import { vsphere, type VsphereConfig } from '../../src/providers/vsphere';
import type { ProviderContext } from '../../src/engine/contract';
import type { SecretRef, SiteConfig } from '../../src/manifest/site';
import type { DesiredSystem } from '../../src/manifest/types';
import { VimClient } from '../../src/providers/vsphere/client';
import { findByInventoryPath, runTask } from '../../src/providers/vsphere/inventory';
import { ref, text } from '../../src/providers/vsphere/soap/xml';
import { makeTemplates as makeLabTemplates } from '../../src/lab/vcsim';
import type { Vcsim } from './vcsim';
import { context, system } from '../support/fixtures';

export const USER = 'admin';
export const PASSWORD = 's3cret&<x>';
const SECRETS: Record<string, string> = { '${env:VS_USER}': USER, '${env:VS_PASSWORD}': PASSWORD };

export const secret = async (r: SecretRef): Promise<string> => {
  const v = SECRETS[r.ref];
  if (v === undefined) throw new Error(`no test secret for ${r.ref}`);
  return v;
};

export function siteFor(sim: Vcsim, root: string, over: Partial<VsphereConfig> = {}): SiteConfig {
  return {
    root,
    lab: true,
    vms: {
      backend: 'vsphere',
      url: sim.url,
      username: { ref: '${env:VS_USER}' },
      password: { ref: '${env:VS_PASSWORD}' },
      tls: { caFile: sim.caFile },
      datacenter: 'DC0',
      cluster: 'DC0_C0',
      folder: 'shipshape',
      datastore: 'LocalDS_0',
      portgroup: 'DC0_DVPG0',
      templates: { debian12: 'tpl-debian12', rocky9: 'tpl-rocky9', missing: 'tpl-does-not-exist' },
      taskTimeoutSeconds: 60,
      ...over,
    } satisfies VsphereConfig,
    nets: {},
    dns: { zones: [] },
    dhcp: { servers: [] },
    defaults: { concurrency: 4, maxDeletes: 3 },
  };
}

/** The site's vSphere config, as the backend's factory would receive it. */
export function vmsOf(site: SiteConfig): VsphereConfig {
  const c = configOf(vsphere, site.vms);
  if (!c) throw new Error('the test site has no vms: vsphere section');
  return c;
}

/** The shared test context (test/support/fixtures.ts). */
export const ctxFor: (site: SiteConfig, commit?: string) => ProviderContext = context;

/** The shared system fixture, sized for vcsim (small memory and disk). */
export function systemNamed(name: string, over: Partial<DesiredSystem> = {}): DesiredSystem {
  return system(name, {
    memoryMiB: 2048,
    disks: [{ sizeGiB: 10 }],
    network: { net: 'dev-net', ip: 'auto', mac: '00:50:56:01:02:03' },
    sources: { cpu: { file: `systems/${name}.yaml`, line: 7, col: 8 } },
    ...over,
  });
}

export function adminClient(sim: Vcsim): VimClient {
  return new VimClient({ url: sim.url, username: USER, password: PASSWORD, tls: { caFile: sim.caFile } });
}

/** Turns the first model VMs into templates named `names` (the lab does the same: src/lab/vcsim.ts). */
export function makeTemplates(sim: Vcsim, names: string[]): Promise<void> {
  return makeLabTemplates({ url: sim.url, username: USER, password: PASSWORD, tls: { caFile: sim.caFile } }, names);
}

/**
 * What an operator's own tooling makes: a clone of tpl-debian12 named `name` in the site's folder
 * (`shipshape`, created when missing), without shipshape's marker. Returns its moref.
 */
export async function cloneUnmarked(sim: Vcsim, name: string): Promise<string> {
  const c = adminClient(sim);
  try {
    const tpl = (await findByInventoryPath(c, 'DC0/vm/tpl-debian12'))!;
    let folder = await findByInventoryPath(c, 'DC0/vm/shipshape');
    if (!folder) {
      const vmFolder = (await findByInventoryPath(c, 'DC0/vm'))!;
      await c.call('CreateFolder', ref('_this', vmFolder) + text('name', 'shipshape'));
      folder = (await findByInventoryPath(c, 'DC0/vm/shipshape'))!;
    }
    const pool = (await findByInventoryPath(c, 'DC0/host/DC0_C0/Resources'))!;
    const vm = await runTask(
      c,
      'CloneVM_Task',
      ref('_this', tpl) +
        ref('folder', folder) +
        text('name', name) +
        `<spec><location>${ref('pool', pool)}</location><template>false</template><powerOn>false</powerOn></spec>`,
      { timeoutMs: 30_000, what: 'test clone' },
    );
    return vm!.text;
  } finally {
    await c.logout();
  }
}

/**
 * The `vms:` section of an e2e test's shipshape.yaml (indented to sit under `spec:`) on vcsim's default
 * inventory (DC0, DC0_C0, LocalDS_0, DC0_DVPG0), folder `shipshape`, the credentials as `${env:…}`
 * references to `<envPrefix>_VS_USER` and `<envPrefix>_VS_PASSWORD` (each test its own names).
 */
export function vmsSectionYaml(
  sim: Vcsim,
  envPrefix: string,
  o: { templates: Record<string, string>; taskTimeoutSeconds: number; caFile?: string },
): string {
  const templates = Object.entries(o.templates)
    .map(([os, tpl]) => `${os}: ${tpl}`)
    .join(', ');
  return `  vms:
    backend: vsphere
    url: ${sim.url}
    username: \${env:${envPrefix}_VS_USER}
    password: \${env:${envPrefix}_VS_PASSWORD}
    tls: { caFile: ${o.caFile ?? sim.caFile} }
    datacenter: DC0
    cluster: DC0_C0
    folder: shipshape
    datastore: LocalDS_0
    portgroup: DC0_DVPG0
    templates: { ${templates} }
    taskTimeoutSeconds: ${o.taskTimeoutSeconds}`;
}
