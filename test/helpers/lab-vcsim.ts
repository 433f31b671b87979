/** A test lab's vcsim as an operator would touch it behind shipshape's back: read VMs, edit one in place. */
import { join } from 'node:path';
import { readCredentials } from '../../src/lab/credentials';
import { VimClient } from '../../src/providers/vsphere/client';
import { retrieveView, runTask } from '../../src/providers/vsphere/inventory';
import { ref, text, type MoRef } from '../../src/providers/vsphere/soap/xml';
import { lastPerKey } from '../../src/providers/vsphere/vm';

async function withVcsim<T>(deploy: string, port: number, fn: (c: VimClient) => Promise<T>): Promise<T> {
  const env = readCredentials(deploy);
  const c = new VimClient({
    url: `https://127.0.0.1:${port}/sdk`,
    username: env.SHIPSHAPE_VSPHERE_USER!,
    password: env.SHIPSHAPE_VSPHERE_PASSWORD!,
    tls: { caFile: join(deploy, '.lab/vcsim/ca.pem') },
  });
  try {
    return await fn(c);
  } finally {
    await c.logout();
  }
}

/** name → CPU count and power state of every VM in the lab's vcsim. */
export function labVms(deploy: string, port: number): Promise<Map<string, { obj: MoRef; cpu: number; power: string }>> {
  return withVcsim(deploy, port, async (c) => {
    const rows = await retrieveView(c, (await c.serviceContent()).rootFolder, [
      { type: 'VirtualMachine', paths: ['name', 'config.hardware.numCPU', 'runtime.powerState'] },
    ]);
    return new Map(
      rows.map((r) => [
        r.props.get('name')!.text,
        {
          obj: r.obj,
          cpu: Number(r.props.get('config.hardware.numCPU')!.text),
          power: r.props.get('runtime.powerState')!.text,
        },
      ]),
    );
  });
}

/** Sets a VM's CPU count directly in vcsim (drift: a change made outside git). */
export async function setLabVmCpu(deploy: string, port: number, name: string, cpus: number): Promise<void> {
  const vm = (await labVms(deploy, port)).get(name);
  if (!vm) throw new Error(`no VM ${name} in the lab's vcsim`);
  await withVcsim(deploy, port, (c) =>
    runTask(c, 'ReconfigVM_Task', ref('_this', vm.obj) + `<spec>${text('numCPUs', cpus)}</spec>`, {
      timeoutMs: 30_000,
      what: 'edit in vcsim',
    }),
  );
}

/** Powers a VM off and destroys it directly in vcsim (an operator deleting it in vCenter). */
export async function destroyLabVm(deploy: string, port: number, name: string): Promise<void> {
  const vm = (await labVms(deploy, port)).get(name);
  if (!vm) throw new Error(`no VM ${name} in the lab's vcsim`);
  await withVcsim(deploy, port, async (c) => {
    const o = { timeoutMs: 30_000, what: `destroy ${name} in vcsim` };
    if (vm.power === 'poweredOn') await runTask(c, 'PowerOffVM_Task', ref('_this', vm.obj), o);
    await runTask(c, 'Destroy_Task', ref('_this', vm.obj), o);
  });
}

/** One extraConfig value of a VM in the lab's vcsim (the last entry of the key: vcsim appends). */
export async function labVmExtraConfig(
  deploy: string,
  port: number,
  name: string,
  key: string,
): Promise<string | undefined> {
  return withVcsim(deploy, port, async (c) => {
    const rows = await retrieveView(c, (await c.serviceContent()).rootFolder, [
      { type: 'VirtualMachine', paths: ['name', 'config.extraConfig'] },
    ]);
    const row = rows.find((r) => r.props.get('name')?.text === name);
    return row ? lastPerKey(row.props.get('config.extraConfig')).get(key) : undefined;
  });
}

/** Powers a VM off and on again in vcsim (a power cycle in vCenter: the VM gets a new boot time). */
export async function powerCycleLabVm(deploy: string, port: number, name: string): Promise<void> {
  const vm = (await labVms(deploy, port)).get(name);
  if (!vm) throw new Error(`no VM ${name} in the lab's vcsim`);
  await withVcsim(deploy, port, async (c) => {
    const o = { timeoutMs: 30_000, what: `power cycle ${name} in vcsim` };
    await runTask(c, 'PowerOffVM_Task', ref('_this', vm.obj), o);
    await runTask(c, 'PowerOnVM_Task', ref('_this', vm.obj), o);
  });
}
