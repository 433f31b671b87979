/** cmdb.object.* and cmdb.objects.read (reference §2.5–2.9). */
import { objectTypeBy, STATUS, STATUS_CONSTANTS } from './constants';
import { invalidParams, mandatory, objectMissing, systemError, validationError } from './errors';
import type { Ctx } from './methods';
import { readCategoryOf, saveCategory } from './category-methods';
import type { ObjectRec } from './store';

type Params = Record<string, unknown>;

export function objectRow(ctx: Ctx, o: ObjectRec, style: 'object' | 'objects'): Record<string, unknown> {
  const t = objectTypeBy(o.typeId)!;
  const status = ctx.store.dialogValues('cmdb_status').find((d) => d.id === o.cmdbStatus);
  const image = `${ctx.opts.publicUrl}/images/objecttypes/${t.image}`;
  if (style === 'object') {
    return {
      id: o.id,
      title: o.title,
      sysid: o.sysid,
      objecttype: t.id,
      type_title: t.title,
      type_icon: 'images/icons/silk/page_white.png',
      status: o.status,
      cmdb_status: o.cmdbStatus,
      cmdb_status_title: status?.title ?? '',
      created: o.created,
      updated: o.updated,
      image,
    };
  }
  return {
    id: o.id,
    title: o.title,
    sysid: o.sysid,
    type: t.id,
    created: o.created,
    updated: o.updated,
    type_title: t.title,
    type_group_title: t.group,
    status: o.status,
    cmdb_status: o.cmdbStatus,
    cmdb_status_title: status?.title ?? '',
    image,
  };
}

function requireObject(ctx: Ctx, id: unknown): ObjectRec {
  const o = Number.isInteger(id) ? ctx.store.object(id as number) : undefined;
  if (!o) throw objectMissing(id);
  return o;
}

function objectParam(p: Params, name = 'object'): unknown {
  if (p[name] === undefined) throw mandatory(name);
  return p[name];
}

export function objectCreate(ctx: Ctx, p: Params): unknown {
  if (p.type === undefined) throw mandatory('type');
  if (p.title === undefined) throw mandatory('title');
  const type = objectTypeBy(p.type);
  if (!type) throw systemError('Object type not found.');
  if (typeof p.title !== 'string' || p.title === '')
    throw invalidParams('Parameter title has to be a non-empty string.');
  // Add-ons before 1.10.2 do not read `sysid` at all: i-doit generates one.
  const sysid = ctx.opts.profile.sysidOnCreate && typeof p.sysid === 'string' && p.sysid ? p.sysid : undefined;
  // SYSIDs are unique only where an admin switched the uniqueness check on.
  if (sysid && ctx.opts.uniqueSysid && ctx.store.objectBySysid(sysid)) {
    throw validationError([{ key: 'sysid', type: 'text', msg: `The given value "${sysid}" is not unique.` }]);
  }
  let cmdbStatus = 6;
  if (p.cmdb_status !== undefined) {
    const d = ctx.store.dialogValues('cmdb_status').find((v) => v.id === p.cmdb_status || v.const === p.cmdb_status);
    if (!d)
      throw validationError([
        { key: 'cmdb_status', type: 'int', msg: `The value "${String(p.cmdb_status)}" is not a valid CMDB status.` },
      ]);
    cmdbStatus = d.id;
  }
  const t = ctx.store.timestamp();
  const o = ctx.store.addObject({
    title: p.title,
    typeId: type.id,
    status: typeof p.status === 'number' ? p.status : STATUS.NORMAL,
    cmdbStatus,
    created: t,
    updated: t,
    description: typeof p.description === 'string' ? p.description : '',
    purpose: null,
    category: null,
    ...(sysid ? { sysid } : {}),
  });
  const created: Record<string, unknown[]> = {};
  // No rollback: the object stays, and a rejected entry comes back as an error string in its place.
  for (const [cat, value] of Object.entries((p.categories as Record<string, unknown>) ?? {})) {
    const list = Array.isArray(value) ? value : [value];
    created[cat] = list.map((data) => {
      try {
        return saveCategory(ctx, { object: o.id, category: cat, data }).entry;
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    });
  }
  const result: Record<string, unknown> = { id: o.id, message: 'Object was successfully created', success: true };
  if (p.categories !== undefined) result.categories = created;
  return result;
}

export function objectRead(ctx: Ctx, p: Params): unknown {
  const id = objectParam(p, 'id');
  const o =
    Number.isInteger(id) || (typeof id === 'string' && /^\d+$/.test(id)) ? ctx.store.object(Number(id)) : undefined;
  return o ? objectRow(ctx, o, 'object') : [];
}

export function objectUpdate(ctx: Ctx, p: Params): unknown {
  const o = requireObject(ctx, objectParam(p, 'id'));
  if (typeof p.title !== 'string' || !p.title) throw mandatory('title');
  o.title = p.title;
  o.updated = ctx.store.timestamp();
  return { message: 'Object title was successfully updated', success: true };
}

/** Status changes i-doit allows; anything else (archive an archived object, recycle a normal one …) is an error. */
const TRANSITIONS: Record<string, { from: number[]; to: number; verb: string }> = {
  archive: { from: [STATUS.NORMAL], to: STATUS.ARCHIVED, verb: 'archived' },
  delete: { from: [STATUS.NORMAL, STATUS.ARCHIVED], to: STATUS.DELETED, verb: 'deleted' },
  recycle: { from: [STATUS.ARCHIVED, STATUS.DELETED], to: STATUS.NORMAL, verb: 'recycled' },
};
const STATUS_WORD: Record<number, string> = {
  1: 'unfinished',
  2: 'normal',
  3: 'archived',
  4: 'deleted',
  6: 'a template',
  7: 'a mass change template',
};

function setStatus(ctx: Ctx, o: ObjectRec, op: keyof typeof TRANSITIONS): unknown {
  const t = TRANSITIONS[op]!;
  if (!t.from.includes(o.status)) {
    throw systemError(`Object ${o.id} cannot be ${t.verb}: it is ${STATUS_WORD[o.status] ?? `in status ${o.status}`}.`);
  }
  o.status = t.to;
  o.updated = ctx.store.timestamp();
  return { success: true, message: `Object ${o.id} has been ${t.verb}.` };
}

export const objectArchive = (ctx: Ctx, p: Params) => setStatus(ctx, requireObject(ctx, objectParam(p)), 'archive');
export const objectRecycle = (ctx: Ctx, p: Params) => setStatus(ctx, requireObject(ctx, objectParam(p)), 'recycle');

function purge(ctx: Ctx, o: ObjectRec): unknown {
  if (ctx.opts.profile.purgeNeedsQuickpurge && !ctx.opts.quickPurge) throw systemError('Quickpurge is not enabled');
  ctx.store.purgeObject(o.id);
  return { success: true, message: `Object ${o.id} has been purged.` };
}

export function objectDelete(ctx: Ctx, p: Params): unknown {
  if (p.object !== undefined) return setStatus(ctx, requireObject(ctx, p.object), 'delete');
  // Old style: `id` with an optional status constant.
  const o = requireObject(ctx, objectParam(p, 'id'));
  const status = p.status === undefined ? STATUS.DELETED : STATUS_CONSTANTS[String(p.status)];
  if (status === STATUS.PURGE) return purge(ctx, o);
  if (status === STATUS.ARCHIVED) return setStatus(ctx, o, 'archive');
  if (status === STATUS.DELETED) return setStatus(ctx, o, 'delete');
  throw invalidParams(`Invalid status "${String(p.status)}".`);
}

/** Purge works from any status (normal included); add-on 1.10 needs the tenant's quick-purge setting. */
export const objectPurge = (ctx: Ctx, p: Params) => purge(ctx, requireObject(ctx, objectParam(p)));

function like(pattern: string): RegExp {
  const re = pattern
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replace(/%/g, '.*')
    .replace(/_/g, '.');
  return new RegExp(`^${re}$`, 'is');
}

export function objectsRead(ctx: Ctx, p: Params): unknown {
  const f = (p.filter as Record<string, unknown>) ?? {};
  let rows: ObjectRec[];
  rows = typeof f.sysid === 'string' ? ctx.store.objectsBySysid(f.sysid) : ctx.store.allObjects();
  const status =
    typeof f.status === 'string' && STATUS_CONSTANTS[f.status] !== undefined
      ? STATUS_CONSTANTS[f.status]!
      : STATUS.NORMAL;
  rows = rows.filter((o) => o.status === status);
  if (f.ids !== undefined) {
    const ids = new Set((Array.isArray(f.ids) ? f.ids : [f.ids]).map(Number));
    rows = rows.filter((o) => ids.has(o.id));
  }
  if (f.type !== undefined) {
    const types = new Set((Array.isArray(f.type) ? f.type : [f.type]).map((t) => objectTypeBy(t)?.id ?? -1));
    rows = rows.filter((o) => types.has(o.typeId));
  }
  if (typeof f.title === 'string') {
    const re = like(f.title);
    rows = rows.filter((o) => re.test(o.title));
  }
  if (typeof f.sysid === 'string') rows = rows.filter((o) => o.sysid === f.sysid);
  if (typeof f.type_title === 'string') rows = rows.filter((o) => objectTypeBy(o.typeId)?.title === f.type_title);
  const orderKey = ['title', 'sysid', 'updated', 'type'].includes(String(p.order_by)) ? String(p.order_by) : 'id';
  const key = (o: ObjectRec): string | number =>
    orderKey === 'type' ? o.typeId : orderKey === 'id' ? o.id : (o as never)[orderKey];
  rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.id - b.id));
  if (p.order_by !== undefined && String(p.sort).toUpperCase() === 'DESC') rows.reverse();
  if (p.limit !== undefined) {
    const [off, count] = String(p.limit).includes(',') ? String(p.limit).split(',').map(Number) : [0, Number(p.limit)];
    rows = rows.slice(off, (off ?? 0) + (count ?? 0));
  }
  const cats = p.categories;
  return rows.map((o) => {
    const row = objectRow(ctx, o, 'objects');
    if (cats === true || Array.isArray(cats))
      row.categories = readCategoryOf(ctx, o, cats === true ? null : (cats as string[]));
    return row;
  });
}
