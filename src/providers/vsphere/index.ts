/** The `vsphere` backend of the `vms` step: vCenter over its SOAP API (vim25). */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { defineBackend } from '../plugin';
import { vsphereConfig, type VsphereConfig } from './config';
import { VsphereProvider } from './provider';
import schema from './schema.json';

export { VsphereProvider } from './provider';
export type { VsphereConfig } from './config';
export type { VmFields, VmHandle } from './fields';

/** One journal folder per vCenter + folder, so two repos sharing a state dir never read each other's journal. */
export function journalDirFor(stateDir: string, v: Pick<VsphereConfig, 'url' | 'datacenter' | 'folder'>): string {
  const scope = createHash('sha256').update(`${v.url}|${v.datacenter}|${v.folder}`).digest('hex').slice(0, 16);
  return path.join(stateDir, 'journal', 'vsphere', scope);
}

export const vsphere = defineBackend({
  kind: 'vms',
  id: 'vsphere',
  schema,
  osKeys: ['templates'],
  labOnlyKeys: { simulator: 'chooses the simulator `shipshape lab up` starts; a real site talks to its vCenter' },
  config: vsphereConfig,
  connect: (config, d) => new VsphereProvider({ config, secret: d.secret, journalDir: journalDirFor(d.stateDir, config) }),
});
