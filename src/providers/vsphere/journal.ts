/**
 * The create journal: one small JSON file per system while a clone is in flight, written before
 * CloneVM_Task is sent and updated with the task and the new VM. If shipshape dies mid-create,
 * the next run reads it to tell "the clone we started" from "someone else's VM with that name".
 * Lives in the repo's git-ignored `.shipshape/` folder; removed once the VM has converged.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface CreateJournalEntry {
  system: string;
  name: string;
  folder: string;
  startedAt: string;
  /** The CloneVM_Task reference value, once vCenter accepted the call. */
  task?: string;
  /** The new VM's reference value, once the task finished. */
  vm?: string;
}

export class CreateJournal {
  constructor(private readonly dir: string) {}

  private file(system: string): string {
    return path.join(this.dir, `${system}.json`);
  }

  read(system: string): CreateJournalEntry | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.file(system), 'utf8')) as CreateJournalEntry;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`create journal ${this.file(system)} is unreadable (${(e as Error).message}); inspect it, then remove it`);
    }
  }

  /** Written atomically (temp file + rename) and fsynced: it must survive the crash it is for. */
  write(e: CreateJournalEntry): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.file(e.system)}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    fs.writeSync(fd, JSON.stringify(e, null, 2));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, this.file(e.system));
  }

  clear(system: string): void {
    fs.rmSync(this.file(system), { force: true });
  }

  pathFor(system: string): string {
    return this.file(system);
  }
}
