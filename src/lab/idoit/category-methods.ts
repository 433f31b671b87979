/** cmdb.category.read/save/archive/delete/purge and cmdb.dialog.read (reference §2.10–2.14). */
import { objectTypeBy, STATUS, STATUS_CONSTANTS } from './constants';
import { CATEGORIES, readEntry, readIpListEntry, statusMatches, type CategoryDef } from './categories';
import {
  invalidParams,
  mandatory,
  objectMissing,
  RpcError,
  systemError,
  unknownPropertyError,
  validationError,
} from './errors';
import type { Ctx } from './methods';
import { dialogRead, writeProp, type PropError } from './properties';
import type { EntryRec, ObjectRec } from './store';

type Params = Record<string, unknown>;

const CATEGORY_MISSING =
  "Category type missing. You must specify the parameter int 'catsID', int 'catgID', int 'customID' or string 'category' in order to identify the corresponding category you would like to use.";

/** C__CATG__GLOBAL is the object record itself. */
const GLOBAL_KEYS = [
  'title',
  'status',
  'created',
  'created_by',
  'changed',
  'changed_by',
  'purpose',
  'category',
  'sysid',
  'cmdb_status',
  'type',
  'tag',
  'description',
];

function categoryParam(p: Params): CategoryDef | 'global' {
  const c = p.category;
  if (c === undefined) throw invalidParams(CATEGORY_MISSING);
  if (c === 'C__CATG__GLOBAL') return 'global';
  const def = typeof c === 'string' ? CATEGORIES[c] : undefined;
  if (!def)
    throw invalidParams(`Category "${String(c)}" not found. Delete your i-doit cache if you are sure it exists.`);
  return def;
}

function globalRead(ctx: Ctx, o: ObjectRec): Record<string, unknown> {
  const t = objectTypeBy(o.typeId)!;
  const d = (table: string, id: number | null) => dialogRead(ctx.store.dialogValues(table).find((v) => v.id === id));
  const statusTitle: Record<number, string> = {
    1: 'Unfinished',
    2: 'Normal',
    3: 'Archived',
    4: 'Deleted',
    6: 'Template',
  };
  return {
    id: String(o.id),
    objID: String(o.id),
    title: o.title,
    status: {
      id: String(o.status),
      title: statusTitle[o.status] ?? '',
      const: Object.keys(STATUS_CONSTANTS).find((k) => STATUS_CONSTANTS[k] === o.status) ?? null,
    },
    created: o.created,
    created_by: 'admin',
    changed: o.updated,
    changed_by: 'admin',
    purpose: d('purpose', o.purpose),
    category: d('object_category', o.category),
    sysid: o.sysid,
    cmdb_status: d('cmdb_status', o.cmdbStatus),
    type: { id: String(t.id), title: t.title, const: t.const, title_lang: t.const },
    tag: null,
    description: o.description,
  };
}

function entriesFor(ctx: Ctx, def: CategoryDef, o: ObjectRec, status: number): Record<string, unknown>[] {
  if (def.const === 'C__CATS__NET_IP_ADDRESSES') {
    // "In use" for i-doit: normal entries on normal objects only, whatever status the request asks for.
    return ctx.store
      .hostAddressesIn(o.id)
      .filter((e) => ctx.store.inUse(e))
      .map((e) => readIpListEntry(ctx.store, e));
  }
  return ctx.store
    .entriesOf(def.const, o.id)
    .filter((e) => statusMatches(status, e.status))
    .map((e) => readEntry(ctx.store, def, e));
}

/** For cmdb.objects.read `categories`: every category asked for, as arrays of entries in status normal. */
export function readCategoryOf(ctx: Ctx, o: ObjectRec, cats: string[] | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const isNet = objectTypeBy(o.typeId)?.const === 'C__OBJTYPE__LAYER3_NET';
  const list = cats ?? Object.keys(CATEGORIES).filter((c) => c.startsWith('C__CATS__NET') === isNet);
  for (const c of list) {
    if (c !== 'C__CATG__GLOBAL' && !CATEGORIES[c])
      throw systemError("Category constant in paramter 'categories' does not exists");
  }
  for (const c of list) {
    out[c] = c === 'C__CATG__GLOBAL' ? [globalRead(ctx, o)] : entriesFor(ctx, CATEGORIES[c]!, o, STATUS.NORMAL);
  }
  return out;
}

export function categoryRead(ctx: Ctx, p: Params): unknown {
  const id = p.objID;
  if (!(Number.isInteger(id) || (typeof id === 'string' && /^\d+$/.test(id))))
    throw invalidParams('Parameter objID has to be numeric.');
  const def = categoryParam(p);
  const o = ctx.store.object(Number(id));
  // A missing (or purged) object has no entries: i-doit answers [] rather than an error.
  if (!o) return [];
  if (def === 'global') return [globalRead(ctx, o)];
  let status: number = STATUS.NORMAL;
  if (typeof p.status === 'number') status = p.status;
  else if (typeof p.status === 'string') status = STATUS_CONSTANTS[p.status] ?? Number(p.status);
  let rows = entriesFor(ctx, def, o, status);
  if (p.category_id !== undefined) rows = rows.filter((r) => r.id === String(p.category_id));
  return rows;
}

function saveGlobal(ctx: Ctx, o: ObjectRec, data: Record<string, unknown>): { entry: number } {
  const writable = ['title', 'sysid', 'cmdb_status', 'purpose', 'category', 'description'];
  const unknown = Object.keys(data).filter((k) => !writable.includes(k) && !GLOBAL_KEYS.includes(k));
  if (unknown.length) throw unknownPropertyError(unknown);
  const errors: PropError[] = [];
  const next = { ...o };
  for (const [k, v] of Object.entries(data)) {
    if (!writable.includes(k)) errors.push({ key: k, type: 'text', msg: 'This property can not be written.' });
    else if (k === 'title' || k === 'sysid' || k === 'description') {
      if (typeof v !== 'string') errors.push({ key: k, type: 'text', msg: 'The value has to be a string.' });
      else if (k === 'sysid' && ctx.opts.uniqueSysid && ctx.store.objectsBySysid(v).some((x) => x.id !== o.id)) {
        errors.push({ key: k, type: 'text', msg: `The given value "${v}" is not unique.` });
      } else (next as Record<string, unknown>)[k] = v;
    } else {
      const table = k === 'cmdb_status' ? 'cmdb_status' : k === 'purpose' ? 'purpose' : 'object_category';
      const r = writeProp(ctx.store, k, { kind: 'dialog', table }, v);
      if ('error' in r) errors.push(r.error);
      else (next as Record<string, unknown>)[k === 'cmdb_status' ? 'cmdbStatus' : k] = r.value;
    }
  }
  if (errors.length) throw validationError(errors);
  // The core keeps a SYSID an object already has (and every object has one): a written sysid is dropped.
  Object.assign(o, next, { sysid: o.sysid, updated: ctx.store.timestamp() });
  return { entry: o.id };
}

export function saveCategory(ctx: Ctx, p: Params): { success: true; message: string; entry: number } {
  if (p.object === undefined) throw mandatory('object');
  if (!Number.isInteger(p.object)) throw invalidParams("Parameter 'object' has to be an integer.");
  const def = categoryParam(p);
  if (p.data === undefined) throw mandatory('data');
  if (typeof p.data !== 'object' || p.data === null || Array.isArray(p.data))
    throw invalidParams("Parameter 'data' has to be an object.");
  const o = ctx.store.object(p.object as number);
  if (!o) throw systemError('(object) ObjectId needs to be a integer value which references an existing object.');
  const data = p.data as Record<string, unknown>;
  const ok = (entry: number) => ({ success: true as const, message: 'Category entry successfully saved', entry });
  if (def === 'global') return ok(saveGlobal(ctx, o, data).entry);
  if (def.readOnly) throw systemError(`Category '${def.title}' is read-only and cannot be written by the API.`);

  let existing: EntryRec | undefined;
  if (!def.multi && p.entry !== undefined && ctx.opts.profile.singleValueEntry === 'error') {
    throw invalidParams('EntryId needs to be empty for single value categories.');
  }
  if (!def.multi) existing = ctx.store.entriesOf(def.const, o.id).find((e) => e.status === STATUS.NORMAL);
  else if (p.entry !== undefined) {
    existing = Number.isInteger(p.entry) ? ctx.store.table(def.const)[String(p.entry)] : undefined;
    if (!existing || existing.objId !== o.id) {
      throw invalidParams(`Unable to find a category entry with id ${String(p.entry)} for object ${o.id}.`);
    }
  }
  const unknown = Object.keys(data).filter((k) => !(k in def.props));
  if (unknown.length) throw unknownPropertyError(unknown);
  const errors: PropError[] = [];
  const converted: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    const r = writeProp(ctx.store, k, def.props[k]!, v);
    if ('error' in r) errors.push(r.error);
    else converted[k] = r.value;
  }
  if (errors.length) throw validationError(errors);
  // Partial updates: omitted keys keep their stored values.
  const merged = { ...(existing ? existing.data : (def.defaults ?? {})), ...converted };
  def.check?.(ctx.store, o.id, merged, existing?.id ?? null, { uniqueIp: ctx.opts.uniqueIp });
  let entry: EntryRec;
  if (existing) {
    existing.data = merged;
    entry = existing;
  } else entry = ctx.store.addEntry(def.const, o.id, merged);
  def.afterSave?.(ctx.store, entry);
  o.updated = ctx.store.timestamp();
  return ok(entry.id);
}

/** The entry an archive/delete/purge addresses, with i-doit's two "not found" texts. */
function targetEntry(ctx: Ctx, p: Params, def: CategoryDef, o: ObjectRec): EntryRec {
  const own = ctx.store.entriesOf(def.const, o.id);
  if (!def.multi && p.entry === undefined) {
    const e = own[0];
    if (!e) throw invalidParams(`Object ${o.id} does not own an entry in category '${def.title}'.`);
    return e;
  }
  if (p.entry === undefined) throw mandatory('entry');
  const e = own.find((x) => x.id === Number(p.entry));
  if (!e) {
    if (!def.multi) throw invalidParams(`Object ${o.id} does not own an entry in category '${def.title}'.`);
    throw invalidParams(
      `Unable to find entry for id ${String(p.entry)}. Please ensure that entry is owned by object ${o.id} and has a valid status.`,
    );
  }
  return e;
}

function entryOp(ctx: Ctx, p: Params, op: 'archive' | 'delete' | 'purge'): unknown {
  const objectId = p.object ?? p.objID;
  if (objectId === undefined) throw mandatory('object');
  const def = categoryParam(p);
  if (def === 'global') throw systemError(`Category 'General' cannot be ${op}d; use cmdb.object.${op} instead.`);
  if (def.readOnly) throw systemError(`Category '${def.title}' is read-only and cannot be written by the API.`);
  const o = Number.isInteger(objectId) ? ctx.store.object(objectId as number) : undefined;
  if (!o) throw objectMissing(objectId);
  const oldStyle = p.object === undefined;
  const entryParams = oldStyle ? { ...p, entry: p.cateID ?? p.id } : p;
  const e = targetEntry(ctx, entryParams, def, o);
  const from = e.status;
  if (op === 'purge') {
    ctx.store.removeEntry(def.const, e.id);
    // A purged gateway address leaves the net without a gateway.
    if (def.const === 'C__CATG__IP') {
      for (const n of Object.values(ctx.store.table('C__CATS__NET')))
        if (n.data.gateway === e.id) n.data.gateway = null;
    }
    return { success: true, message: `Entry ${e.id} has been successfully purged from ${from} to 5.` };
  }
  if (oldStyle) {
    e.status = STATUS.DELETED;
    return { success: true, message: `Category entry '${e.id}' successfully deleted` };
  }
  e.status = op === 'archive' ? STATUS.ARCHIVED : Math.min(from + 1, STATUS.DELETED);
  const verb = op === 'archive' ? 'archived' : 'ranked';
  return { success: true, message: `Entry ${e.id} has been successfully ${verb} from ${from} to ${e.status}.` };
}

export const categoryArchive = (ctx: Ctx, p: Params) => entryOp(ctx, p, 'archive');
export const categoryDelete = (ctx: Ctx, p: Params) => entryOp(ctx, p, 'delete');
export const categoryPurge = (ctx: Ctx, p: Params) => entryOp(ctx, p, 'purge');

export function dialogReadMethod(ctx: Ctx, p: Params): unknown {
  const def = categoryParam(p);
  if (p.property === undefined) throw mandatory('property');
  const prop = def === 'global' ? undefined : def.props[String(p.property)];
  if (!prop || prop.kind !== 'dialog') {
    throw new RpcError(-32602, `Property "${String(p.property)}" is not a dialog field of the given category.`);
  }
  return ctx.store.dialogValues(prop.table).map((v) => ({ id: String(v.id), const: v.const, title: v.title }));
}
