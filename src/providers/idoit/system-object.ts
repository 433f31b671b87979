/**
 * The i-doit object that stands for one system: a virtual server whose SYSID carries shipshape's marker.
 * The `ip` step creates it (an address lives in an object's host-address category); the `cmdb` step
 * fills the other categories. Both find it by the same marker.
 */
import type { DesiredSystem } from '../../manifest/types';
import type { IdoitCall, IdoitClient } from './client';
import { IdoitError } from './errors';
import { RECORD_STATES, systemMarker, VM_TYPE } from './marker';

export interface ObjectRow {
  id: number;
  title: string;
  sysid: string;
  status: number;
  cmdb_status_title?: string;
  categories?: Record<string, unknown[]>;
}

/** Reads of one object type in every record state we care about (objects.read lists only one state per call). */
export function readAllStates(filter: Record<string, unknown>, categories?: string[]): IdoitCall[] {
  return RECORD_STATES.map((status) => ({
    method: 'cmdb.objects.read',
    params: { filter: { ...filter, status }, ...(categories ? { categories } : {}) },
  }));
}

export async function findSystemObject(client: IdoitClient, name: string, categories?: string[]): Promise<ObjectRow | null> {
  const results = (await client.batchOrThrow(readAllStates({ type: VM_TYPE, sysid: systemMarker(name) }, categories))) as ObjectRow[][];
  return results.flat()[0] ?? null;
}

/** Finds the system's object or creates it (planned, marked). A concurrent run creating it first is fine: SYSIDs are unique. */
export async function ensureSystemObject(client: IdoitClient, system: DesiredSystem, commit?: string): Promise<ObjectRow> {
  const found = await findSystemObject(client, system.name);
  if (found) return found;
  try {
    const r = await client.call<{ id: number }>('cmdb.object.create', {
      type: VM_TYPE,
      title: system.name,
      sysid: systemMarker(system.name),
      cmdb_status: 'C__CMDB_STATUS__PLANNED',
      description: `Managed by shipshape from ${system.file}${commit ? ` at ${commit}` : ''}. Edits here are overwritten.`,
    });
    return { id: r.id, title: system.name, sysid: systemMarker(system.name), status: 2, cmdb_status_title: 'planned' };
  } catch (e) {
    if (e instanceof IdoitError && e.fieldError('sysid')) {
      const again = await findSystemObject(client, system.name);
      if (again) return again;
    }
    throw e;
  }
}
