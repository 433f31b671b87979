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
  /**
   * Indexes kept in step with every change, so reads and writes stay cheap at 10,000+ objects:
   * host-address entries per net (the IP list), entries per category and object, objects per SYSID.
   */
  private ipIndex: Map<number, Set<number>> | null = null;
  private ipNetOf = new Map<number, number>();
  /** `net|address` → host-address entry ids, and the key each entry is filed under. */
  private ipByAddress = new Map<string, Set<number>>();
  private ipKeyOf = new Map<number, string>();
  private byObject = new Map<string, Map<number, Set<number>>>();
  private sysids: Map<string, Set<number>> | null = null;

  constructor(
    state?: State,
    readonly now: () => Date = () => new Date(),
  ) {
    this.state = state ?? Store.empty(now);
  }

  static empty(now: () => Date = () => new Date()): State {
    const t = formatTime(now());
    const base = {
      sysid: '',
      status: STATUS.NORMAL,
      cmdbStatus: 6,
      created: t,
      updated: t,
      description: '',
      purpose: null,
      category: null,
    };
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
    if (state.format !== 1)
      throw new Error(`i-doit emulator state ${file} has an unknown format; delete it to start empty`);
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

  /** Every object with this SYSID, lowest id first: SYSIDs are not unique in a stock i-doit. */
  objectsBySysid(sysid: string): ObjectRec[] {
    if (!this.sysids) {
      this.sysids = new Map();
      for (const o of Object.values(this.state.objects)) this.indexSysid(o.sysid, o.id);
    }
    return [...(this.sysids.get(sysid) ?? [])]
      .sort((a, b) => a - b)
      .map((id) => this.object(id)!)
      .filter(Boolean);
  }

  objectBySysid(sysid: string): ObjectRec | undefined {
    return this.objectsBySysid(sysid)[0];
  }

  private indexSysid(sysid: string, id: number): void {
    if (!this.sysids) return;
    if (!this.sysids.has(sysid)) this.sysids.set(sysid, new Set());
    this.sysids.get(sysid)!.add(id);
  }

  setSysid(o: ObjectRec, sysid: string): void {
    this.sysids?.get(o.sysid)?.delete(o.id);
    o.sysid = sysid;
    this.indexSysid(sysid, o.id);
  }

  allObjects(): ObjectRec[] {
    return Object.values(this.state.objects);
  }

  addObject(o: Omit<ObjectRec, 'id' | 'sysid'> & { id?: number; sysid?: string }): ObjectRec {
    const id = o.id ?? this.state.nextObjectId;
    this.state.nextObjectId = Math.max(this.state.nextObjectId, id + 1);
    const rec: ObjectRec = { ...o, id, sysid: o.sysid || `SYSID_${1700000000 + id}` };
    this.state.objects[String(id)] = rec;
    this.indexSysid(rec.sysid, id);
    return rec;
  }

  purgeObject(id: number): void {
    const o = this.object(id);
    if (o) this.sysids?.get(o.sysid)?.delete(id);
    delete this.state.objects[String(id)];
    for (const cat of Object.keys(this.state.entries)) {
      for (const e of this.entriesOf(cat, id)) this.removeEntry(cat, e.id);
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

  private objectIndex(category: string): Map<number, Set<number>> {
    let idx = this.byObject.get(category);
    if (!idx) {
      idx = new Map();
      for (const e of Object.values(this.table(category))) {
        if (!idx.has(e.objId)) idx.set(e.objId, new Set());
        idx.get(e.objId)!.add(e.id);
      }
      this.byObject.set(category, idx);
    }
    return idx;
  }

  /** Entries of one object in one category, by id order. */
  entriesOf(category: string, objId: number): EntryRec[] {
    const table = this.table(category);
    return [...(this.objectIndex(category).get(objId) ?? [])]
      .map((id) => table[String(id)]!)
      .sort((a, b) => a.id - b.id);
  }

  addEntry(category: string, objId: number, data: Record<string, unknown>, forcedId?: number): EntryRec {
    const e: EntryRec = { id: this.nextId(category, forcedId), objId, status: STATUS.NORMAL, data };
    const idx = this.objectIndex(category);
    this.table(category)[String(e.id)] = e;
    if (!idx.has(objId)) idx.set(objId, new Set());
    idx.get(objId)!.add(e.id);
    if (category === 'C__CATG__IP') this.reindexIp(e);
    return e;
  }

  removeEntry(category: string, id: number): void {
    const e = this.table(category)[String(id)];
    if (!e) return;
    this.objectIndex(category).get(e.objId)?.delete(id);
    delete this.table(category)[String(id)];
    if (category === 'C__CATG__IP') {
      const net = this.ipNetOf.get(id);
      if (net !== undefined) this.ipIndex?.get(net)?.delete(id);
      this.ipNetOf.delete(id);
      const key = this.ipKeyOf.get(id);
      if (key !== undefined) this.ipByAddress.get(key)?.delete(id);
      this.ipKeyOf.delete(id);
    }
  }

  private netIndex(): Map<number, Set<number>> {
    if (!this.ipIndex) {
      this.ipIndex = new Map();
      this.ipNetOf.clear();
      this.ipByAddress.clear();
      this.ipKeyOf.clear();
      for (const e of Object.values(this.table('C__CATG__IP'))) this.reindexIp(e);
    }
    return this.ipIndex;
  }

  /** Call after the `net` of a host-address entry was set or changed. */
  reindexIp(e: EntryRec): void {
    if (!this.ipIndex) {
      this.netIndex(); // builds the whole index, this entry included
      return;
    }
    const old = this.ipNetOf.get(e.id);
    const net = Number(e.data.net);
    if (old !== net) {
      if (old !== undefined) this.ipIndex.get(old)?.delete(e.id);
      if (!this.ipIndex.has(net)) this.ipIndex.set(net, new Set());
      this.ipIndex.get(net)!.add(e.id);
      this.ipNetOf.set(e.id, net);
    }
    const key = `${net}|${String(e.data.ipv4_address ?? '')}`;
    const oldKey = this.ipKeyOf.get(e.id);
    if (oldKey !== key) {
      if (oldKey !== undefined) this.ipByAddress.get(oldKey)?.delete(e.id);
      if (!this.ipByAddress.has(key)) this.ipByAddress.set(key, new Set());
      this.ipByAddress.get(key)!.add(e.id);
      this.ipKeyOf.set(e.id, key);
    }
  }

  /** i-doit's "in use": a host-address entry in status normal on an object in status normal. */
  inUse(e: EntryRec): boolean {
    return e.status === STATUS.NORMAL && this.object(e.objId)?.status === STATUS.NORMAL;
  }

  /** The first in-use host-address entry in a net holding `ip`, other than `except` (the unique-IP check). */
  ipHolder(netId: number, ip: string, except: number | null): EntryRec | undefined {
    this.netIndex();
    const table = this.table('C__CATG__IP');
    for (const id of this.ipByAddress.get(`${netId}|${ip}`) ?? []) {
      const e = table[String(id)];
      if (e && id !== except && this.inUse(e)) return e;
    }
    return undefined;
  }

  /** Host-address entries that point into a net (what C__CATS__NET_IP_ADDRESSES lists). */
  hostAddressesIn(netId: number): EntryRec[] {
    const ids = this.netIndex().get(netId) ?? new Set<number>();
    const table = this.table('C__CATG__IP');
    return [...ids]
      .map((id) => table[String(id)]!)
      .filter(Boolean)
      .sort((a, b) => Number(a.data.ipListId) - Number(b.data.ipListId));
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
