/**
 * Powering a VM off the polite way first: ShutdownGuest, wait for poweredOff up to a timeout, then
 * a hard PowerOffVM_Task. ShutdownGuest needs VMware Tools on vCenter (vcsim powers off at once).
 */
import type { VimClient } from './client';
import { retrieveObjects, runTask } from './inventory';
import { InvalidPowerStateError, VsphereFault } from './soap/faults';
import { ref, type MoRef } from './soap/xml';

async function powerState(c: VimClient, vm: MoRef): Promise<string> {
  const [o] = await retrieveObjects(c, [vm], [{ type: 'VirtualMachine', paths: ['runtime.powerState'] }]);
  return o?.props.get('runtime.powerState')?.text ?? 'unknown';
}

export interface PowerOffOptions {
  guestTimeoutMs: number;
  taskTimeoutMs: number;
  what: string;
}

/** Returns how it got there: already off, guest shutdown, or hard power-off. */
export async function powerOff(c: VimClient, vm: MoRef, o: PowerOffOptions): Promise<'already' | 'guest' | 'hard'> {
  let state = await powerState(c, vm);
  if (state === 'poweredOff') return 'already';
  if (state === 'poweredOn') {
    try {
      await c.call('ShutdownGuest', ref('_this', vm));
      const deadline = Date.now() + o.guestTimeoutMs;
      let delay = 200;
      while ((state = await powerState(c, vm)) !== 'poweredOff' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 3000);
      }
      if (state === 'poweredOff') return 'guest';
    } catch (e) {
      // No Tools, guest busy, or a state race: fall through to the hard power-off.
      if (!(e instanceof VsphereFault)) throw e;
    }
  }
  try {
    await runTask(c, 'PowerOffVM_Task', ref('_this', vm), { timeoutMs: o.taskTimeoutMs, what: `power off ${o.what}` });
  } catch (e) {
    if (!(e instanceof InvalidPowerStateError)) throw e; // it went off by itself meanwhile
  }
  return 'hard';
}

export async function powerOn(c: VimClient, vm: MoRef, o: { taskTimeoutMs: number; what: string }): Promise<void> {
  try {
    await runTask(c, 'PowerOnVM_Task', ref('_this', vm), { timeoutMs: o.taskTimeoutMs, what: `power on ${o.what}` });
  } catch (e) {
    if (!(e instanceof InvalidPowerStateError) || e.detail.existingState !== 'poweredOn') throw e;
  }
}
