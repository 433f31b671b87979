/**
 * Boot media for the installation step (src/providers/install: BootMedia): upload the per-system
 * boot ISO to the site's datastore (HTTP /folder interface), put it in the VM's CD-ROM, take it out
 * again when the install is done, and reset the VM so it boots the installer now.
 * The VM is the one the `vm` step resolved (`resolved.vmId`).
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { UserError, type ProviderContext, type Resolved } from '../../engine/contract';
import type { VsphereConfig } from './config';
import type { DesiredSystem } from '../../manifest/types';
import type { BootMedia } from '../../engine/contract';
import type { VimClient } from './client';
import { retrieveObjects, runTask } from './inventory';
import type { Placement } from './placement';
import { ref, type MoRef, type XNode } from './soap/xml';
import { extraConfig, reconfigSpec, serialize, withChild } from './specs';
import { lastPerKey, parseDevices, type VmDevices } from './vm';

/** Datastore folder the boot ISOs live in. */
export const ISO_FOLDER = 'shipshape-install';
/** extraConfig key on the VM: `built` once its OS is installed (survives a lost state dir). */
export const INSTALL_MARKER = 'shipshape.install';

type Connect = (ctx: ProviderContext) => Promise<{ c: VimClient; p: Placement; v: VsphereConfig }>;

export function vsphereBootMedia(connect: Connect, taskMs: (v: VsphereConfig) => number): BootMedia {
  const vmOf = (system: DesiredSystem, r: Resolved): MoRef => {
    if (typeof r.vmId !== 'string' || !r.vmId)
      throw new UserError(
        `system ${system.name}: the vm step resolved no VM, so there is nothing to boot the installer on`,
      );
    return { type: 'VirtualMachine', value: r.vmId };
  };
  const devices = async (c: VimClient, vm: MoRef): Promise<VmDevices> => {
    const [o] = await retrieveObjects(c, [vm], [{ type: 'VirtualMachine', paths: ['config.hardware.device'] }]);
    const d = o?.props.get('config.hardware.device');
    if (!o || !d) throw new UserError(`VM ${vm.value} has no device list (was it deleted?)`);
    return parseDevices(d, new Map());
  };
  const setIso = async (
    ctx: ProviderContext,
    system: DesiredSystem,
    r: Resolved,
    fileName: string | undefined,
  ): Promise<void> => {
    const { c, p, v } = await connect(ctx);
    const vm = vmOf(system, r);
    const dev = await devices(c, vm);
    const cd = dev.cdroms[0];
    let spec: string;
    if (fileName) {
      const ds = /^\[([^\]]+)\]/.exec(fileName)![1]!;
      spec = reconfigSpec(dev, {
        growDisks: [],
        addDisks: [],
        extraConfig: [],
        iso: { fileName, datastoreRef: await p.datastore(ds, v.datacenter, system, 'iso') },
      });
    } else {
      if (!cd?.iso) return;
      // Emptied (client-device backing, disconnected), not removed: the template's CD-ROM stays. The
      // device is sent as read, deviceInfo included (vcsim fails an edit without it).
      const el = (name: string, children: XNode[], xsiType?: string): XNode => ({
        name,
        attrs: {},
        text: '',
        children,
        ...(xsiType ? { xsiType } : {}),
      });
      const leaf = (name: string, text: string): XNode => ({ name, attrs: {}, text, children: [] });
      const backing = el(
        'backing',
        [leaf('deviceName', ''), leaf('exclusive', 'false')],
        'VirtualCdromRemotePassthroughBackingInfo',
      );
      const connectable = el('connectable', [
        leaf('startConnected', 'false'),
        leaf('allowGuestControl', 'false'),
        leaf('connected', 'false'),
      ]);
      const node = withChild(withChild(cd.node, backing, ['key', 'deviceInfo']), connectable, [
        'key',
        'deviceInfo',
        'backing',
      ]);
      spec = `<spec><deviceChange><operation>edit</operation>${serialize({ ...node, name: 'device' })}</deviceChange></spec>`;
    }
    await runTask(c, 'ReconfigVM_Task', ref('_this', vm) + spec, {
      timeoutMs: taskMs(v),
      what: `${fileName ? 'attach the boot ISO to' : 'detach the boot ISO from'} ${system.name}`,
    });
  };
  return {
    async attachIso(system, resolved, isoFile, ctx) {
      const { c, v } = await connect(ctx);
      const rel = `${ISO_FOLDER}/${path.basename(isoFile)}`;
      await c.putFile(rel, { dcPath: v.datacenter, dsName: v.datastore }, await fs.readFile(isoFile), taskMs(v));
      const fileName = `[${v.datastore}] ${rel}`;
      await setIso(ctx, system, resolved, fileName);
      return fileName;
    },
    async detachIso(system, resolved, _datastorePath, ctx) {
      await setIso(ctx, system, resolved, undefined);
    },
    async installMarker(system, resolved, ctx) {
      const { c } = await connect(ctx);
      const [o] = await retrieveObjects(
        c,
        [vmOf(system, resolved)],
        [{ type: 'VirtualMachine', paths: ['config.extraConfig'] }],
      );
      return lastPerKey(o?.props.get('config.extraConfig')).get(INSTALL_MARKER);
    },
    async setInstallMarker(system, resolved, value, ctx) {
      const { c, v } = await connect(ctx);
      await runTask(
        c,
        'ReconfigVM_Task',
        ref('_this', vmOf(system, resolved)) + `<spec>${extraConfig([[INSTALL_MARKER, value]])}</spec>`,
        { timeoutMs: taskMs(v), what: `mark ${system.name} as installed` },
      );
    },
    async guestInfo(system, resolved, key, ctx) {
      const { c } = await connect(ctx);
      const [o] = await retrieveObjects(
        c,
        [vmOf(system, resolved)],
        [{ type: 'VirtualMachine', paths: ['config.extraConfig'] }],
      );
      return lastPerKey(o?.props.get('config.extraConfig')).get(key);
    },
    async setGuestInfo(system, resolved, key, value, ctx) {
      if (!key.startsWith('guestinfo.')) throw new Error(`internal: ${key} is not a guestinfo key`);
      const { c, v } = await connect(ctx);
      if (!value) {
        // Clearing (before every install attempt): a fresh clone has nothing to clear, and a read
        // costs one round trip where a reconfigure is a task.
        const [o] = await retrieveObjects(
          c,
          [vmOf(system, resolved)],
          [{ type: 'VirtualMachine', paths: ['config.extraConfig'] }],
        );
        if (!lastPerKey(o?.props.get('config.extraConfig')).get(key)) return;
      }
      await runTask(
        c,
        'ReconfigVM_Task',
        ref('_this', vmOf(system, resolved)) + `<spec>${extraConfig([[key, value]])}</spec>`,
        { timeoutMs: taskMs(v), what: `${value ? 'set' : 'clear'} ${key} of ${system.name}` },
      );
    },
    async restart(system, resolved, ctx) {
      const { c, v } = await connect(ctx);
      const vm = vmOf(system, resolved);
      // The power state alone: the device list (the largest part of a VM's answer) is not needed here.
      const [now] = await retrieveObjects(c, [vm], [{ type: 'VirtualMachine', paths: ['runtime.powerState'] }]);
      if (!now) throw new UserError(`VM ${vm.value} was not found (was it deleted?)`);
      const power = now.props.get('runtime.powerState')?.text ?? 'unknown';
      const method = power === 'poweredOn' ? 'ResetVM_Task' : 'PowerOnVM_Task';
      await runTask(c, method, ref('_this', vm), {
        timeoutMs: taskMs(v),
        what: `${method === 'ResetVM_Task' ? 'reset' : 'power on'} ${system.name} to boot the installer`,
      });
      // The boot's time as observe reads it (vm.ts): the apply's specialisation keeps the host's role
      // record under it, so the observe after the apply and the next plan need no SSH session to it.
      const [o] = await retrieveObjects(c, [vm], [{ type: 'VirtualMachine', paths: ['summary.runtime.bootTime'] }]);
      return o?.props.get('summary.runtime.bootTime')?.text || undefined;
    },
  };
}
