/**
 * Attribute kinds and how each one is read (objects, numeric strings) and written (ids, constants,
 * titles) — reference §3. Categories in categories.ts are lists of these.
 */
import { DIALOG_TABLES, objectTypeBy, type DialogValue } from './constants';
import type { Store, ObjectRec } from './store';

export type Prop =
  | { kind: 'text' }
  | { kind: 'int' }
  | { kind: 'unit' }
  | { kind: 'dialog'; table: string }
  | { kind: 'yesno'; numeric?: boolean }
  | { kind: 'object'; connection?: boolean; types?: string[] }
  | { kind: 'objects' }
  | { kind: 'refs'; category: string; many: boolean }
  | { kind: 'virtual' };

export interface PropError {
  key: string;
  type: string;
  msg: string;
}

export function objectInfo(o: ObjectRec): Record<string, unknown> {
  const t = objectTypeBy(o.typeId);
  return { id: String(o.id), title: o.title, sysid: o.sysid, type: t?.const ?? '', type_title: t?.title ?? '' };
}

export function dialogRead(v: DialogValue | undefined): Record<string, unknown> | null {
  if (!v) return null;
  return { id: String(v.id), title: v.title, const: v.const, title_lang: v.titleLang ?? v.title };
}

/** Resolve a written dialog value: id, defined constant, or title (Dialog+ creates unknown titles). */
function dialogWrite(store: Store, table: string, value: unknown): number | null | undefined {
  const values = store.dialogValues(table);
  if (typeof value === 'number') return values.some((v) => v.id === value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const byConst = values.find((v) => v.const && v.const === value);
  if (byConst) return byConst.id;
  const byTitle = values.find((v) => v.title.toLowerCase() === value.toLowerCase());
  if (byTitle) return byTitle.id;
  if (/^\d+$/.test(value) && values.some((v) => v.id === Number(value))) return Number(value);
  // Plain dialogs silently drop unknown titles (null), Dialog+ creates them.
  return DIALOG_TABLES[table]?.plus ? store.addDialogValue(table, value).id : null;
}

/** Converts one written value to its stored form, or returns an error for it. */
export function writeProp(
  store: Store,
  key: string,
  p: Prop,
  value: unknown,
): { value: unknown } | { error: PropError } {
  const fail = (type: string, msg: string) => ({ error: { key, type, msg } });
  if (value === null && p.kind !== 'virtual') return { value: null };
  switch (p.kind) {
    case 'virtual':
      return fail('virtual', 'You can not populate virtual properties with data.');
    case 'text':
      return typeof value === 'string' ? { value } : fail('text', 'The value has to be a string.');
    case 'int':
      return Number.isInteger(value) ? { value } : fail('int', 'The value has to be an integer.');
    case 'unit':
      return typeof value === 'number' && Number.isFinite(value)
        ? { value }
        : fail('float', 'The value has to be a number.');
    case 'yesno':
      return value === 0 || value === 1 ? { value } : fail('int', 'The value has to be 0 or 1.');
    case 'dialog': {
      const id = dialogWrite(store, p.table, value);
      if (id === undefined) return fail('int', `The value "${String(value)}" is not a valid dialog entry.`);
      return { value: id };
    }
    case 'object': {
      if (!Number.isInteger(value)) return fail('int', 'The value has to be an object id (integer).');
      const o = store.object(value as number);
      if (!o) return fail('int', `Object with id "${String(value)}" does not exist.`);
      if (p.types && !p.types.includes(objectTypeBy(o.typeId)?.const ?? '')) {
        return fail('int', `Object #${o.id} has the wrong object type for this attribute.`);
      }
      return { value };
    }
    case 'objects': {
      const ids = Array.isArray(value) ? value : [value];
      for (const id of ids) {
        if (!Number.isInteger(id) || !store.object(id as number))
          return fail('int', `Object with id "${String(id)}" does not exist.`);
      }
      return { value: ids };
    }
    case 'refs': {
      const ids = Array.isArray(value) ? value : [value];
      if (!p.many && ids.length > 1) return fail('int', 'Only one entry can be referenced.');
      for (const id of ids) {
        if (!Number.isInteger(id) || !store.table(p.category)[String(id)]) {
          return fail('int', `Entry ${String(id)} of category ${p.category} does not exist.`);
        }
      }
      return { value: p.many ? ids : ids[0] };
    }
  }
}

/** Reference into another entry: object info + ref_id / ref_title / ref_type. */
export function refRead(
  store: Store,
  category: string,
  entryId: number,
  refTitle: (data: Record<string, unknown>) => string,
) {
  const e = store.table(category)[String(entryId)];
  const o = e && store.object(e.objId);
  if (!e || !o) return null;
  const info = objectInfo(o);
  return {
    id: info.id,
    sysid: info.sysid,
    type: info.type,
    title: info.title,
    ref_id: String(e.id),
    ref_title: refTitle(e.data),
    ref_type: category,
  };
}

export function readProp(store: Store, p: Prop, value: unknown): unknown {
  switch (p.kind) {
    case 'text':
      return value == null ? '' : value;
    case 'int':
      return value == null ? null : String(value);
    case 'unit':
      return value == null ? null : { title: value };
    case 'yesno': {
      const v = value === 1 ? 1 : 0;
      return { value: p.numeric ? v : String(v), title: v ? 'Yes' : 'No' };
    }
    case 'dialog':
      return value == null ? null : dialogRead(store.dialogValues(p.table).find((d) => d.id === value));
    case 'object': {
      const o = value == null ? undefined : store.object(value as number);
      if (!o) return null;
      const info = objectInfo(o);
      return p.connection
        ? {
            title: info.title,
            id: info.id,
            connection_id: String(o.id),
            type: info.type,
            type_title: info.type_title,
            sysid: info.sysid,
          }
        : info;
    }
    case 'objects': {
      const list = ((value as number[] | null) ?? []).map((id) => store.object(id)).filter((o): o is ObjectRec => !!o);
      return list.length ? list.map(objectInfo) : null;
    }
    case 'refs': {
      const ids = value == null ? [] : Array.isArray(value) ? (value as number[]) : [value as number];
      const refs = ids
        .map((id) => refRead(store, p.category, id, (d) => String(d.ipv4_address ?? d.title ?? '')))
        .filter(Boolean);
      return p.many ? (refs.length ? refs : null) : (refs[0] ?? null);
    }
    case 'virtual':
      return null;
  }
}
