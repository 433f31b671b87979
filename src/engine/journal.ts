/**
 * The engine's create journal, for every resource kind (after Crossplane's managed reconciler,
 * which records create-pending / create-succeeded / create-incomplete around every Create).
 *
 * Before the engine calls a provider's `create` it records the intent (one small file per
 * system and kind); the provider may add what is specific to it (vSphere: the clone task) through
 * `CreateIntent.note`. After the create the entry is resolved in the same run: removed when the
 * create succeeded, or, when it failed, after the provider's `adoptCreated` found (and marked)
 * what the create left, or found nothing. An entry survives only a run killed mid-create (the
 * next run hands it to the same create, or resolves it if no create is planned) or a failure
 * whose leftovers the backend could not be asked about (the entry waits for the next run).
 *
 * Layout: `<state dir>/journal/<scope>/<kind>/<system>.json`; the scope is one per repository,
 * so two repos sharing a state dir never read each other's entries.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RESOURCE_KINDS, type CreateIntent, type Logger, type ResourceKind } from './contract';
import {
  readStateFile,
  removeStateFile,
  removeStateFileAsync,
  shape,
  writeFileAtomicAsync,
  writeJsonAtomic,
} from './state-file';

export interface JournalEntry {
  kind: ResourceKind;
  system: string;
  /** When the create was first attempted. */
  startedAt: string;
  /** Provider details recorded with `note` (e.g. `task`, `vm` for a vSphere clone). */
  detail: Record<string, string>;
}

export class CreateJournal {
  constructor(
    readonly dir: string,
    private readonly log?: Logger,
  ) {}

  /** The journal of the repository at `root`, under `stateDir`. */
  static forRepo(stateDir: string, root: string, log?: Logger): CreateJournal {
    const scope = createHash('sha256').update(root).digest('hex').slice(0, 16);
    return new CreateJournal(join(stateDir, 'journal', scope), log);
  }

  pathFor(kind: ResourceKind, system: string): string {
    return join(this.dir, kind, `${system}.json`);
  }

  read(kind: ResourceKind, system: string): JournalEntry | undefined {
    const file = this.pathFor(kind, system);
    const r = readStateFile<JournalEntry>(
      file,
      (v) =>
        shape.strings(v, ['system', 'startedAt']) ??
        (shape.object((v as JournalEntry).detail) ? undefined : 'field detail missing'),
    );
    if (r.status === 'missing') return undefined;
    if (r.status === 'ok') return { ...r.value, kind };
    // A torn entry still says a create of this system was under way: keep that much, without details.
    this.log?.warn(
      { file, movedTo: r.movedTo },
      `create journal ${file} was corrupt (${r.reason}); moved it to ${r.movedTo} and treat it as an interrupted create with no details`,
    );
    const entry: JournalEntry = { kind, system, startedAt: new Date(0).toISOString(), detail: {} };
    this.write(entry);
    return entry;
  }

  /** Every entry, of every kind. */
  list(): JournalEntry[] {
    const out: JournalEntry[] = [];
    for (const kind of RESOURCE_KINDS) {
      let names: string[];
      try {
        names = readdirSync(join(this.dir, kind));
      } catch {
        continue;
      }
      for (const n of names) {
        if (!n.endsWith('.json')) continue;
        const e = this.read(kind, n.slice(0, -'.json'.length));
        if (e) out.push(e);
      }
    }
    return out;
  }

  /** Writes in flight per entry file (begin, note, clear of apply): each waits for the one before it. */
  private readonly inFlight = new Map<string, Promise<void>>();

  private queue(file: string, op: () => Promise<void>): Promise<void> {
    const next = (this.inFlight.get(file) ?? Promise.resolve()).then(op, op);
    const settled = next.catch(() => undefined);
    this.inFlight.set(file, settled);
    void settled.then(() => {
      if (this.inFlight.get(file) === settled) this.inFlight.delete(file);
    });
    return next;
  }

  /**
   * `begin` for apply, off the event loop: the entry is on disk (fsynced) when this resolves, and the
   * intent's `note`s are written in order behind it without holding up the caller (a note lost to a
   * crash costs the detail, not the entry: the provider then finds what the create made by its marker).
   */
  async start(kind: ResourceKind, system: string): Promise<CreateIntent> {
    const path = this.pathFor(kind, system);
    await this.inFlight.get(path);
    const earlier = this.read(kind, system);
    const entry: JournalEntry = earlier ?? { kind, system, startedAt: new Date().toISOString(), detail: {} };
    const write = () => this.queue(path, () => writeFileAtomicAsync(path, this.text(entry)));
    if (!earlier) await write();
    const log = this.log;
    return intentOf(path, entry, earlier, (detail) =>
      write().catch((e: unknown) =>
        log?.warn({ file: path }, `create journal: could not note ${JSON.stringify(detail)}: ${(e as Error).message}`),
      ),
    );
  }

  /** Resolves when every write `start`, `note` and `finish` began has landed (apply waits for it before it reports). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.all(this.inFlight.values());
  }

  /** `clear` for apply, after the entry's notes landed and off the event loop. */
  finish(kind: ResourceKind, system: string): Promise<void> {
    const path = this.pathFor(kind, system);
    return this.queue(path, () => removeStateFileAsync(path));
  }

  /** Records create-pending (keeping what an interrupted earlier attempt noted) and returns the intent handed to `create`. */
  begin(kind: ResourceKind, system: string): CreateIntent {
    const earlier = this.read(kind, system);
    const entry: JournalEntry = earlier ?? { kind, system, startedAt: new Date().toISOString(), detail: {} };
    if (!earlier) this.write(entry);
    return intentOf(this.pathFor(kind, system), entry, earlier, () => this.write(entry));
  }

  clear(kind: ResourceKind, system: string): void {
    removeStateFile(this.pathFor(kind, system));
  }

  /** Records an entry as it stands (one an earlier version kept elsewhere, see vsphere/legacy-journal.ts). */
  record(e: JournalEntry): void {
    this.write(e);
  }

  private write(e: JournalEntry): void {
    writeJsonAtomic(this.pathFor(e.kind, e.system), { system: e.system, startedAt: e.startedAt, detail: e.detail });
  }

  private text(e: JournalEntry): string {
    return JSON.stringify({ system: e.system, startedAt: e.startedAt, detail: e.detail }, null, 2) + '\n';
  }
}

/** The intent handed to `create`: `note` merges into the entry, then `persist` writes it (synchronously or queued). */
function intentOf(
  path: string,
  entry: JournalEntry,
  earlier: JournalEntry | undefined,
  persist: (detail: Record<string, string>) => void,
): CreateIntent {
  return {
    path,
    ...(earlier ? { interrupted: { startedAt: earlier.startedAt, detail: { ...earlier.detail } } } : {}),
    get detail() {
      return { ...entry.detail };
    },
    note(detail: Record<string, string>) {
      Object.assign(entry.detail, detail);
      persist(detail);
    },
  };
}
