/** The `vsphere` backend's config: its keys of the site's `vms:` section (schema.json), defaults applied. */
import type { BackendSection, SecretRef, TlsOptions } from '../../manifest/site';
import { secretRef } from '../plugin';

export type VsphereConfig = {
  backend: 'vsphere';
  url: string;
  username: SecretRef;
  password: SecretRef;
  tls: TlsOptions;
  datacenter: string;
  cluster: string;
  /** VM folder path below the datacenter's vm folder, e.g. `shipshape` or `prod/web`. */
  folder: string;
  /** Resource pool path below the cluster; the cluster's root pool when absent. */
  resourcePool?: string;
  datastore: string;
  /** Default port group for the first NIC. */
  portgroup: string;
  /** vSphere template (VM name) per OS catalog entry. */
  templates: Record<string, string>;
  /** Seconds to wait for a task (default 600). */
  taskTimeoutSeconds: number;
  /** Lab sites: the simulator `lab up` starts (default vcsim). */
  simulator?: 'vcsim' | 'vcenter-like';
};

/** The section as written (schema.json). */
interface Raw {
  url: string;
  username: string;
  password: string;
  tls?: TlsOptions;
  datacenter: string;
  cluster: string;
  folder: string;
  resourcePool?: string;
  datastore: string;
  portgroup: string;
  templates: Record<string, string>;
  taskTimeoutSeconds?: number;
  simulator?: 'vcsim' | 'vcenter-like';
}

export function vsphereConfig(section: BackendSection): VsphereConfig {
  const v = section as unknown as Raw;
  const out: VsphereConfig = {
    backend: 'vsphere',
    url: v.url,
    username: secretRef(v.username),
    password: secretRef(v.password),
    tls: { ...(v.tls ?? {}) },
    datacenter: v.datacenter,
    cluster: v.cluster,
    folder: v.folder,
    datastore: v.datastore,
    portgroup: v.portgroup,
    templates: { ...v.templates },
    taskTimeoutSeconds: v.taskTimeoutSeconds ?? 600,
  };
  if (v.resourcePool !== undefined) out.resourcePool = v.resourcePool;
  if (v.simulator !== undefined) out.simulator = v.simulator;
  return out;
}
