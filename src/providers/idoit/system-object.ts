/**
 * The i-doit object that stands for one system: a virtual server that carries shipshape's marker
 * (marker.ts). The `ip` step creates it (an address lives in an object's host-address category); the
 * `cmdb` step fills the other categories. Both find it the same way.
 *
 * Create-once without a unique key. i-doit has no compare-and-set and SYSIDs are not unique, so two
 * runs that both find nothing both create an object. What i-doit does guarantee is that object ids
 * are unique and handed out in increasing order. So every run that created an object reads all claims
 * of the system again and lets the lowest id win; it adopts the winner and releases every higher claim
 * it sees (its own and any other run's): description rewritten to `shipshape-released=…`, then purged
 * (or, where the add-on refuses purges without quick-purge, marked deleted). Why this ends with one
 * claim: each run makes its object visible (create is one request) before it reads the claims. Of two
 * racing runs, the one that reads last sees both objects, so it releases the higher one, whoever made
 * it. A run whose object is released under it finds the object gone on its next write and adopts the
 * winner (`withSystemObject`).
 */
import { UserError } from '../../engine/contract';
import type { DesiredSystem } from '../../manifest/types';
import type { IdoitCall, IdoitClient } from './client';
import { IdoitError } from './errors';
import { markerVerified, type Sealer } from '../../ownership';
import {
  claimDescription,
  isReleased,
  RECORD_STATES,
  releasedClaim,
  SEAL_LINE,
  sealOf,
  systemClaim,
  systemMarker,
  systemOf,
  VM_TYPE,
} from './marker';

export interface ObjectRow {
  id: number;
  title: string;
  sysid: string;
  status: number;
  cmdb_status_title?: string;
  categories?: Record<string, unknown[]>;
}

type Global = { description?: unknown };

/** What an object's seal is computed over (marker.ts): the system and the id i-doit gave the object. */
const sealFor = (system: string, id: number | string) => ({ kind: 'idoit', system, resourceId: String(id) });

/**
 * The system an object row belongs to (read with C__CATG__GLOBAL for the description), or null; with
 * the site's sealer, only when the description carries this site's seal for this object.
 */
export function ownerOf(row: ObjectRow, sealer?: Sealer): string | null {
  const g = (row.categories?.C__CATG__GLOBAL?.[0] ?? {}) as Global;
  const system = systemOf(row.sysid, g.description);
  if (!system || markerVerified(sealer, sealFor(system, row.id), sealOf(g.description))) return system;
  return null;
}

/** Reads of one object type in every record state we care about (objects.read lists only one state per call). */
export function readAllStates(filter: Record<string, unknown>, categories?: string[]): IdoitCall[] {
  return RECORD_STATES.map((status) => ({
    method: 'cmdb.objects.read',
    params: { filter: { ...filter, status }, ...(categories ? { categories } : {}) },
  }));
}

const withGlobal = (categories: string[] = []) => [...new Set(['C__CATG__GLOBAL', ...categories])];

/** Every object (any state) that claims the system, lowest id first: by SYSID, and by title for the description claim. */
export async function claimsOf(client: IdoitClient, name: string, categories?: string[]): Promise<ObjectRow[]> {
  const cats = withGlobal(categories);
  const results = (await client.batchOrThrow([
    ...readAllStates({ type: VM_TYPE, sysid: systemMarker(name) }, cats),
    ...readAllStates({ type: VM_TYPE, title: name }, cats),
  ])) as ObjectRow[][];
  const byId = new Map<number, ObjectRow>();
  const sealer = await client.sealer();
  for (const row of results.flat())
    if (ownerOf(row, sealer) === name) byId.set(Number(row.id), { ...row, id: Number(row.id) });
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/** One object by id (any state) if it still claims the system: edits in the UI (a new title) do not lose it. */
export async function ownedObject(
  client: IdoitClient,
  id: number,
  name: string,
  categories?: string[],
): Promise<ObjectRow | null> {
  const rows = (
    (await client.batchOrThrow(readAllStates({ ids: [id] }, withGlobal(categories)))) as ObjectRow[][]
  ).flat();
  const row = rows.find((r) => Number(r.id) === id);
  return row && ownerOf(row, await client.sealer()) === name ? { ...row, id } : null;
}

export async function findSystemObject(
  client: IdoitClient,
  name: string,
  categories?: string[],
): Promise<ObjectRow | null> {
  return (await claimsOf(client, name, categories))[0] ?? null;
}

/** Finds the system's object or creates it (planned, marked), then converges with any run that raced us. */
export async function ensureSystemObject(
  client: IdoitClient,
  system: DesiredSystem,
  commit?: string,
  categories?: string[],
): Promise<ObjectRow> {
  const found = await findSystemObject(client, system.name, categories);
  if (found) return found;
  const r = await client.call<{ id: number }>('cmdb.object.create', {
    type: VM_TYPE,
    title: system.name,
    sysid: systemMarker(system.name),
    cmdb_status: 'C__CMDB_STATUS__PLANNED',
    description: claimDescription(system.name, system.file, commit),
  });
  const sealer = await client.sealer();
  if (sealer) {
    // The seal needs the id i-doit just gave the object. Until it lands the object claims nothing on a
    // sealed site; a run killed here leaves an unsealed object that is reported as not shipshape's.
    await client.call('cmdb.category.save', {
      object: Number(r.id),
      category: 'C__CATG__GLOBAL',
      data: {
        description: claimDescription(
          system.name,
          system.file,
          commit,
          sealer.seal(sealFor(system.name, Number(r.id))),
        ),
      },
    });
  }
  return converge(client, system.name, Number(r.id), categories);
}

/**
 * `shipshape adopt`: makes an existing object (one an old pipeline made, with i-doit's own SYSID)
 * the system's by writing the claim as the first line of its description; the rest of what the
 * description said is kept below it. i-doit keeps an object's SYSID, so the claim is the marker here.
 * Returns the object read back, or throws when it does not claim the system afterwards.
 */
export async function claimObject(
  client: IdoitClient,
  id: number,
  system: DesiredSystem,
  commit: string | undefined,
  categories?: string[],
): Promise<ObjectRow> {
  const before = await ownedObject(client, id, system.name, categories);
  if (before) return before;
  const rows = ((await client.batchOrThrow(readAllStates({ ids: [id] }, ['C__CATG__GLOBAL']))) as ObjectRow[][]).flat();
  const row = rows.find((r) => Number(r.id) === id);
  if (!row) throw new UserError(`i-doit object #${id} to adopt for ${system.name} is gone; plan again`);
  const sealer = await client.sealer();
  const other = ownerOf(row, sealer);
  if (other)
    throw new UserError(
      `i-doit object #${id} already belongs to system ${other}; it is not adopted for ${system.name}`,
    );
  const old = (row.categories?.C__CATG__GLOBAL?.[0] as { description?: unknown } | undefined)?.description;
  const kept = typeof old === 'string' && old.trim() ? `\n${old}` : '';
  await client.call('cmdb.category.save', {
    object: id,
    category: 'C__CATG__GLOBAL',
    data: {
      description: claimDescription(system.name, system.file, commit, sealer?.seal(sealFor(system.name, id))) + kept,
    },
  });
  const after = await ownedObject(client, id, system.name, categories);
  if (!after)
    throw new UserError(
      `i-doit object #${id} did not keep shipshape's claim for ${system.name} in its description; check it in i-doit`,
    );
  return after;
}

/** After a create: the lowest claim wins; every higher claim is released. */
export async function converge(
  client: IdoitClient,
  name: string,
  mine: number,
  categories?: string[],
): Promise<ObjectRow> {
  const claims = await claimsOf(client, name, categories);
  const winner = claims[0];
  if (!winner)
    throw new IdoitError(
      'cmdb.objects.read',
      -32099,
      `the object #${mine} just created for ${name} is gone; run again`,
      null,
    );
  for (const loser of claims.slice(1)) await releaseDuplicate(client, name, winner.id, loser.id);
  return winner;
}

/** Gives up a duplicate claim: description and title first (so it stops claiming even if nothing else works), then purge or delete. */
export async function releaseDuplicate(
  client: IdoitClient,
  name: string,
  winner: number,
  object: number,
): Promise<void> {
  // Renamed too, so that what stays (where purging is refused) is not mistaken for the system by its title.
  const [, , purged] = await client.batch([
    {
      method: 'cmdb.category.save',
      params: { object, category: 'C__CATG__GLOBAL', data: { description: releasedClaim(name, winner) } },
    },
    { method: 'cmdb.object.update', params: { id: object, title: `${name} (duplicate of #${winner})` } },
    { method: 'cmdb.object.purge', params: { object } },
  ]);
  // Another run may have released it first (gone, or already deleted): nothing left to do then.
  if (purged && !purged.ok && isQuickPurgeOff(purged.error)) {
    // It stays (deleted): give back any address a racing run allocated on it, which shipshape would otherwise keep reserved.
    const [ips] = await client.batch([
      { method: 'cmdb.category.read', params: { objID: object, category: 'C__CATG__IP' } },
      { method: 'cmdb.object.delete', params: { object } },
    ]);
    const entries = ips?.ok && Array.isArray(ips.result) ? (ips.result as { id: unknown }[]) : [];
    if (entries.length) {
      await client.batch(
        entries.map((e) => ({
          method: 'cmdb.category.purge',
          params: { object, category: 'C__CATG__IP', entry: Number(e.id) },
        })),
      );
    }
  }
}

export function isQuickPurgeOff(e: unknown): boolean {
  return e instanceof IdoitError && /quick ?purge is not enabled/i.test(e.idoitMessage);
}

/** i-doit's answers for an object that does not exist (any more): on save, on status changes, on reads of single objects. */
export function isObjectGone(e: unknown): boolean {
  return e instanceof IdoitError && /references an existing object|does not exist/i.test(e.idoitMessage);
}

/** The object a run was writing to was released as a duplicate by a racing run (it stays where purging is refused). */
export class ObjectReleasedError extends Error {
  override name = 'ObjectReleasedError';
}

/** Throws ObjectReleasedError when a General category entry (C__CATG__GLOBAL read) shows the object was released. */
export function assertNotReleased(object: number, global: unknown): void {
  const g = (Array.isArray(global) ? global[0] : undefined) as { description?: unknown } | undefined;
  if (g && isReleased(g.description)) {
    throw new ObjectReleasedError(`i-doit object #${object} was released as a duplicate by another shipshape run`);
  }
}

/**
 * Runs `fn` on the system's object; if the object disappears under it (a racing run released it as
 * the higher duplicate), adopts the winner and runs `fn` once more.
 */
export async function withSystemObject<T>(
  client: IdoitClient,
  system: DesiredSystem,
  commit: string | undefined,
  fn: (obj: ObjectRow) => Promise<T>,
  categories?: string[],
): Promise<T> {
  const obj = await ensureSystemObject(client, system, commit, categories);
  try {
    return await fn(obj);
  } catch (e) {
    if (!isObjectGone(e) && !(e instanceof ObjectReleasedError)) throw e;
    const again = await ensureSystemObject(client, system, commit, categories);
    if (again.id === obj.id) throw e;
    return fn(again);
  }
}

/**
 * `shipshape ownership seal`: gives every object whose unsealed claim (SYSID or description) names one
 * of `systems` this site's seal for its id, once, when a site starts using `ownership:`. A system
 * claimed by several objects is left alone and reported.
 */
export async function sealClaims(
  client: IdoitClient,
  systems: Set<string>,
): Promise<{ sealed: string[]; skipped: string[] }> {
  const sealer = await client.sealer();
  if (!sealer) return { sealed: [], skipped: [] };
  const rows = ((await client.batchOrThrow(readAllStates({ type: VM_TYPE }, ['C__CATG__GLOBAL']))) as ObjectRow[][])
    .flat()
    .map((r) => ({ ...r, id: Number(r.id) }));
  const claims = new Map<string, ObjectRow[]>();
  for (const row of rows) {
    const system = ownerOf(row);
    if (system && systems.has(system)) claims.set(system, [...(claims.get(system) ?? []), row]);
  }
  const sealed: string[] = [];
  const skipped: string[] = [];
  for (const [system, list] of claims) {
    if (list.some((r) => ownerOf(r, sealer) === system)) continue;
    if (list.length > 1) {
      skipped.push(
        `i-doit ${system}: ${list.length} objects claim it (#${list.map((r) => r.id).join(', #')}); release all but one, then seal again`,
      );
      continue;
    }
    const row = list[0]!;
    const old = (row.categories?.C__CATG__GLOBAL?.[0] as Global | undefined)?.description;
    const text = typeof old === 'string' ? old.replace(/<[^>]*>/g, '\n').trim() : '';
    const [first, ...rest] = text.split(/\r?\n/);
    const seal = `${SEAL_LINE}${sealer.seal(sealFor(system, row.id))}`;
    await client.call('cmdb.category.save', {
      object: row.id,
      category: 'C__CATG__GLOBAL',
      data: { description: [first?.trim() || systemClaim(system), seal, ...rest].join('\n') },
    });
    sealed.push(`i-doit ${system}: object #${row.id}`);
  }
  return { sealed, skipped };
}
