/**
 * In-memory providers for engine and planner tests only (never shipped in src/): they keep
 * resources in a Map, count calls, and can be told to fail, so the engine's ordering, retries,
 * isolation and guards can be tested without a backend.
 */
import {
  TransientError,
  UNKNOWN,
  type FieldChange,
  type Fields,
  type Observation,
  type ObservedResource,
  type Provider,
  type ProviderContext,
  type Resolved,
  type ResourceKind,
} from '../../src/engine/contract';
import type { DesiredSystem } from '../../src/manifest/types';
import { diffFields, type FieldRule } from '../../src/plan/diff';

export type Op = 'observe' | 'create' | 'update' | 'delete' | 'commit';

export class MemoryProvider implements Provider {
  readonly calls: { op: Op; system?: string }[] = [];
  readonly store = new Map<string, ObservedResource>();
  /** Make an operation fail: return an error to throw (once per call). */
  failWith?: (op: Op, system?: string) => Error | undefined;
  private seq = 0;

  constructor(
    readonly kind: ResourceKind,
    private readonly fieldsOf: (s: DesiredSystem, r: Resolved) => Fields | null,
    private readonly rules: Record<string, FieldRule> = {},
  ) {}

  desired(system: DesiredSystem, resolved: Resolved): Fields | null {
    return this.fieldsOf(system, resolved);
  }

  diff(_s: DesiredSystem, desired: Fields, observed: ObservedResource): FieldChange[] {
    return diffFields(desired, observed.fields, this.rules);
  }

  async observe(): Promise<Observation> {
    this.record('observe');
    return { resources: [...this.store.values()].map((r) => ({ ...r, fields: { ...r.fields } })), roundTrips: 1 };
  }

  async create(system: DesiredSystem, desired: Fields): Promise<ObservedResource> {
    this.record('create', system.name);
    const r: ObservedResource = {
      kind: this.kind,
      system: system.name,
      id: `${this.kind}-${++this.seq}`,
      owned: true,
      fields: { ...desired },
    };
    this.store.set(r.id, r);
    return r;
  }

  async update(system: DesiredSystem, desired: Fields, observed: ObservedResource): Promise<ObservedResource> {
    this.record('update', system.name);
    const r = { ...observed, fields: { ...observed.fields, ...desired } };
    this.store.set(r.id, r);
    return r;
  }

  async delete(system: DesiredSystem, observed: ObservedResource): Promise<void> {
    this.record('delete', system.name);
    this.store.delete(observed.id);
  }

  /** Put a resource into the backend as if someone else (or an earlier run) made it. */
  seed(system: string, fields: Fields, owned = true, id = `${this.kind}-seed-${++this.seq}`): ObservedResource {
    const r: ObservedResource = { kind: this.kind, system, id, owned, fields };
    this.store.set(id, r);
    return r;
  }

  ops(op: Op): string[] {
    return this.calls.filter((c) => c.op === op).map((c) => c.system ?? '');
  }

  protected record(op: Op, system?: string): void {
    this.calls.push({ op, ...(system ? { system } : {}) });
    const e = this.failWith?.(op, system);
    if (e) throw e;
  }
}

/** An IPAM stand-in: `ip: auto` takes the next free host address of 10.0.0.0/24. */
export class MemoryIpam extends MemoryProvider {
  constructor() {
    super('ip', (s, r) => ({ net: s.network.net, address: r.ip === UNKNOWN ? UNKNOWN : r.ip }));
  }

  override async create(system: DesiredSystem, desired: Fields): Promise<ObservedResource> {
    const taken = new Set([...this.store.values()].map((r) => r.fields.address));
    let address = desired.address;
    if (address === UNKNOWN) {
      for (let i = 10; i < 255 && (address === UNKNOWN || taken.has(address)); i++) address = `10.0.0.${i}`;
    }
    return super.create(system, { ...desired, address });
  }

  resolve(s: DesiredSystem, observed: ObservedResource | undefined, resolved: Resolved): Resolved {
    const address = observed?.fields.address;
    if (s.network.ip !== 'auto') return resolved;
    return typeof address === 'string' && address !== UNKNOWN ? { ...resolved, ip: address } : resolved;
  }
}

/** A batching backend: per-system calls only stage changes, commit() lands them once. */
export class MemoryBatchProvider extends MemoryProvider {
  commits = 0;
  failCommitFor = new Set<string>();
  private staged = new Set<string>();

  override async create(system: DesiredSystem, desired: Fields): Promise<ObservedResource> {
    this.staged.add(system.name);
    return super.create(system, desired);
  }

  async commit(_ctx: ProviderContext): Promise<{ failed: { system: string; error: Error }[] }> {
    this.record('commit');
    this.commits++;
    const failed = [...this.staged]
      .filter((s) => this.failCommitFor.has(s))
      .map((system) => ({ system, error: new Error(`reload failed for ${system}`) }));
    this.staged.clear();
    return { failed };
  }
}

export const transient = (msg = 'connection reset') => new TransientError(msg);
