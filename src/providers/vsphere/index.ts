/** The `vsphere` backend of the `vms` step: vCenter over its SOAP API (vim25). */
import { defineBackend } from '../plugin';
import { vsphereConfig } from './config';
import { VsphereProvider } from './provider';
import schema from './schema.json';

export { VsphereProvider } from './provider';
export type { VsphereConfig } from './config';
export type { VmFields, VmHandle } from './fields';

// The create journal is the engine's (src/engine/journal.ts); the provider notes its clone task in it.

export const vsphere = defineBackend({
  kind: 'vms',
  id: 'vsphere',
  schema,
  osKeys: ['templates'],
  labOnlyKeys: { simulator: 'chooses the simulator `shipshape lab up` starts; a real site talks to its vCenter' },
  config: vsphereConfig,
  connect: (config, d) =>
    new VsphereProvider({ config, secret: d.secret, stateDir: d.stateDir, systems: d.repo.systems }),
});
