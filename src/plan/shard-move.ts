/**
 * A system whose manifest moved it to another shard's net, as the shard it left sees it. A shard owns
 * its DNS zones and DHCP servers and no other shard's run ever writes them, so the records and the
 * reservation the system left here are this shard's to remove: each marked one is planned as a delete
 * that says where the system went. Nothing unmarked is touched, and the IPAM, the CMDB and the VM are
 * the site's, not a shard's: the system's own (new) shard's run updates them, moving its address in
 * i-doit (the old one is released there), so the two runs converge in either order. A system that no
 * shard's manifests name is never deleted by inference (planner.ts reports it as an orphan); one that
 * moved and then got a tombstone has what it left here deleted as the tombstone says (planner.ts).
 */
import type { ResourceKind } from '../engine/contract';
import type { DesiredSystem } from '../manifest/types';
import type { ObservedIndex } from './planner';
import type { PlannedAction } from './types';

/** What a shard owns: its zones' records and its DHCP servers' reservations. */
export const SHARD_OWNED_KINDS: readonly ResourceKind[] = ['dns', 'dhcp'];

/** A system of another shard of the site, with that shard. */
export interface Elsewhere {
  system: DesiredSystem;
  shard: string;
}

/** The plan input of a shard's run (`--shard`), from the load result's `shard`. */
export function shardPlanInput(shard: {
  others: string[];
  shardOf: Record<string, string>;
  elsewhere: DesiredSystem[];
}): { elsewhere: Elsewhere[] } {
  return {
    elsewhere: shard.elsewhere
      .filter((s) => shard.shardOf[s.name] !== undefined)
      .map((system) => ({ system, shard: shard.shardOf[system.name]! })),
  };
}

/** Deletes of the marked records and reservations that systems now of other shards left in this one. */
export function planMovedAway(elsewhere: readonly Elsewhere[], index: ObservedIndex): PlannedAction[] {
  const actions: PlannedAction[] = [];
  for (const { system, shard } of [...elsewhere].sort((a, b) => a.system.name.localeCompare(b.system.name))) {
    // A tombstone's leftovers here are deleted as a tombstone's (planner.ts): protection and --max-deletes apply.
    if (system.state !== 'present') continue;
    const net = system.network.net;
    for (const kind of SHARD_OWNED_KINDS) {
      for (const r of index.get(kind)?.get(system.name) ?? []) {
        if (!r.owned || r.retired) continue;
        const what =
          kind === 'dns'
            ? `its records in this shard's zones are removed; shard ${shard}'s run creates the new ones`
            : `its reservation on this shard's DHCP server is removed; shard ${shard}'s run makes the new one`;
        actions.push({
          system: system.name,
          kind,
          action: 'delete',
          resourceId: r.id,
          changes: [],
          needsPowerOff: false,
          needsReboot: false,
          reason: `${system.name} moved to shard ${shard} (net ${net}): ${what}`,
          movedTo: { shard, net },
        });
      }
    }
  }
  return actions;
}
