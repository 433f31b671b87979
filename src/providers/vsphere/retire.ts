/**
 * `vmOnDelete: poweroff-keep`: the powered-off VM stays, but is no longer the system's. One
 * ReconfigVM_Task renames it `<name>-retired-<YYYY-MM-DD>` and swaps `shipshape.system` for
 * `shipshape.retired` in its marker, so the name is free for a replacement (vCenter refuses a
 * second VM of one name in a folder) and no later run converges the kept VM back to life.
 * One task, not rename + reconfigure: a crash between two calls would leave a renamed VM that
 * still claims the system, or an unmarked VM under the system's name.
 */
import type { Logger } from '../../engine/contract';
import type { VimClient } from './client';
import { runTask } from './inventory';
import { DuplicateNameError } from './soap/faults';
import { ref, text, type MoRef } from './soap/xml';
import { extraConfig } from './specs';
import { MARKER_SYSTEM, type VmInfo } from './vm';

export const MARKER_RETIRED = 'shipshape.retired';

export function retiredName(name: string, day: Date, n = 1): string {
  return `${name}-retired-${day.toISOString().slice(0, 10)}${n > 1 ? `-${n}` : ''}`;
}

export async function retire(
  c: VimClient,
  vm: MoRef,
  info: VmInfo,
  system: string,
  timeoutMs: number,
  ctx: { log: Logger },
  now = new Date(),
): Promise<string> {
  const marker = extraConfig([
    [MARKER_SYSTEM, ''],
    [MARKER_RETIRED, `${system} ${now.toISOString()}`],
  ]);
  for (let n = 1; ; n++) {
    const name = retiredName(system, now, n);
    try {
      await runTask(c, 'ReconfigVM_Task', ref('_this', vm) + `<spec>${text('name', name)}${marker}</spec>`, {
        timeoutMs,
        what: `retire ${system} (${vm.value}) as ${name}`,
      });
      ctx.log.info(
        { system, vm: vm.value, was: info.name, now: name },
        'vsphere: kept VM powered off and renamed (vmOnDelete: poweroff-keep)',
      );
      return name;
    } catch (e) {
      if (!(e instanceof DuplicateNameError) || n >= 20) throw e; // retired twice on one day
    }
  }
}
