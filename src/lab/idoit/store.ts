/**
 * The emulator's data: objects, category entries, Dialog+ additions and id counters, persisted to
 * one JSON file (written atomically after every changing request) so the lab survives restarts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DIALOG_TABLES, STATUS, type DialogValue } from './constants';

export interface ObjectRec {
  id: number;
  title: string;
  sysid: string;
  typeId: number;
  status: number;
  cmdbStatus: number;
  created: string;
  updated: string;
  description: string;
  purpose: number | null;
  category: number | null;
}

export interface EntryRec {
  id: number;
  objId: number;
  status: number;
  /** Attribute values in their written form (ids for dialogs and objects). */
  data: Record<string, unknown>;
}

export interface State {
  format: 1;
  nextObjectId: number;
  /** Entry ids count per category, as every category is its own table in i-doit. */
  nextEntryId: Record<string, number>;
  objects: Record<string, ObjectRec>;
  entries: Record<string, Record<string, EntryRec>>;
  /** Dialog+ values added by writes, per table. */
  dialogPlus: Record<string, DialogValue[]>;
}

export function formatTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

export class Store {
  state: State;
  /** Ip-list entries per net object id; rebuilt lazily (the net read must not scan every entry). */
  private ipIndex: Map<number, Set<number>> | null = null;

  constructor(state?: State, readonly now: () => Date = () => new Date()) {
    this.state = state ?? Store.empty(now);
  }

  static empty(now: () => Date = () => new Date()): State {
    const t = formatTime(now());
    const base = { sysid: '', status: STATUS.NORMAL, cmdbStatus: 6, created: t, updated: t, description: '', purpose: null, category: null };
    return {
      format: 1,
      nextObjectId: 1000,
      nextEntryId: {},
      objects: {
        // i-doit's built-in global nets: addresses written without a net land here.
        '20': { ...base, id: 20, title: 'Global v4', sysid: 'SYSID_1700000020', typeId: 31 },
        '21': { ...base, id: 21, title: 'Global v6', sysid: 'SYSID_1700000021', typeId: 31 },
      },
      entries: {},
      dialogPlus: {},
    };
  }

  static load(file: string, now?: () => Date): Store {
    if (!fs.existsSync(file)) return new Store(undefined, now);
    const state = JSON.parse(fs.readFileSync(file, 'utf8')) as State;
    if (state.format !== 1) throw new Error(`i-doit emulator state ${file} has an unknown format; delete it to start empty`);
    return new Store(state, now);
  }

  save(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.state));
    fs.renameSync(tmp, file);
  }

  timestamp(): string {
    return formatTime(this.now());
  }

  object(id: number): ObjectRec | undefined {
    return this.state.objects[String(id)];
  }

  allObjects(): ObjectRec[] {
    return Object.values(this.state.objects);
  }

  addObject(o: Omit<ObjectRec, 'id' | 'sysid'> & { id?: number; sysid?: string }): ObjectRec {
    const id = o.id ?? this.state.nextObjectId;
    this.state.nextObjectId = Math.max(this.state.nextObjectId, id + 1);
    const rec: ObjectRec = { ...o, id, sysid: o.sysid || `SYSID_${1700000000 + id}` };
    this.state.objects[String(id)] = rec;
    return rec;
  }

  purgeObject(id: number): void {
    delete this.state.objects[String(id)];
    for (const [cat, table] of Object.entries(this.state.entries)) {
      for (const [eid, e] of Object.entries(table)) {
        if (e.objId === id) {
          delete table[eid];
          if (cat === 'C__CATG__IP') this.ipIndex = null;
        }
      }
    }
  }

  table(category: string): Record<string, EntryRec> {
    return (this.state.entries[category] ??= {});
  }

  nextId(counter: string, forced?: number): number {
    const id = forced ?? this.state.nextEntryId[counter] ?? 1;
    this.state.nextEntryId[counter] = Math.max(this.state.nextEntryId[counter] ?? 1, id + 1);
    return id;
  }

  /** Entries of one object in one category, by id order. */
  entriesOf(category: string, objId: number): EntryRec[] {
    return Object.values(this.table(category))
      .filter((e) => e.objId === objId)
      .sort((a, b) => a.id - b.id);
  }

  addEntry(category: string, objId: number, data: Record<string, unknown>, forcedId?: number): EntryRec {
    const e: EntryRec = { id: this.nextId(category, forcedId), objId, status: STATUS.NORMAL, data };
    this.table(category)[String(e.id)] = e;
    if (category === 'C__CATG__IP') this.ipIndex = null;
    return e;
  }

  removeEntry(category: string, id: number): void {
    delete this.table(category)[String(id)];
    if (category === 'C__CATG__IP') this.ipIndex = null;
  }

  /** Host-address entries that point into a net (what C__CATS__NET_IP_ADDRESSES lists). */
  hostAddressesIn(netId: number): EntryRec[] {
    if (!this.ipIndex) {
      this.ipIndex = new Map();
      for (const e of Object.values(this.table('C__CATG__IP'))) {
        const n = Number(e.data.net);
        if (!this.ipIndex.has(n)) this.ipIndex.set(n, new Set());
        this.ipIndex.get(n)!.add(e.id);
      }
    }
    const ids = this.ipIndex.get(netId) ?? new Set<number>();
    const table = this.table('C__CATG__IP');
    return [...ids]
      .map((id) => table[String(id)]!)
      .filter(Boolean)
      .sort((a, b) => Number(a.data.ipListId) - Number(b.data.ipListId));
  }

  /** Call after changing the `net` of a host-address entry in place. */
  invalidateIpIndex(): void {
    this.ipIndex = null;
  }

  dialogValues(table: string): DialogValue[] {
    return [...(DIALOG_TABLES[table]?.values ?? []), ...(this.state.dialogPlus[table] ?? [])];
  }

  addDialogValue(table: string, title: string): DialogValue {
    const all = this.dialogValues(table);
    const v: DialogValue = { id: Math.max(0, ...all.map((d) => d.id)) + 1, title, const: null };
    (this.state.dialogPlus[table] ??= []).push(v);
    return v;
  }
}
