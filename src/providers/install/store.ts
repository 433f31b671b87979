/**
 * Where install state lives: one JSON record per system in a directory under the state dir,
 * written atomically (temp file, fsync, rename) so a crash leaves the old or the new record,
 * never half of one. The provisioning server and `apply` share it. Beside each record: the
 * rendered answer file and boot script (mode 0600; they hold the password hash and the token)
 * while the install runs, and two indexes (token hash → system, MAC → system) so a request is
 * answered without reading every record.
 */
import { createHash, randomBytes } from 'crypto';
import { promises as fs, watch as watchDir, type FSWatcher } from 'fs';
import * as path from 'path';
import { corruptMessage, readStateFile, shape, writeFileAtomicAsync } from '../../engine/state-file';
import { ACTIVE, type InstallRecord } from './state';

export function newToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** `00:50:56:01:02:03` from any of `00-50-56-01-02-03`, `00:50:56:01:02:03`, upper or lower case; undefined if not a MAC. */
export function normaliseMac(s: string): string | undefined {
  const m =
    /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s);
  return m ? m.slice(1).join(':').toLowerCase() : undefined;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The install state dir below the CLI's state dir: `apply` and the provisioning server must agree on it. */
export function installStateDir(stateDir: string): string {
  return path.join(stateDir, 'install');
}

/** What is wrong with a parsed install record, or undefined when it has the expected shape. */
function recordProblem(v: unknown): string | undefined {
  const missing = shape.strings(v, ['system', 'mac', 'os', 'bootPath', 'state', 'requestedAt', 'updatedAt']);
  if (missing) return missing;
  const r = v as InstallRecord;
  if (typeof r.attempt !== 'number') return 'field attempt missing or not a number';
  if (!Array.isArray(r.history)) return 'field history missing or not a list';
  return undefined;
}

export class InstallStore {
  /**
   * `onCorrupt` hears of a record that did not parse: it is moved aside (`*.corrupt-<time>`) and
   * read as missing, so apply rebuilds it from the VM's install marker (built VMs are not
   * reinstalled) and the other systems go on.
   */
  constructor(
    readonly dir: string,
    private readonly onCorrupt: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`),
  ) {}

  private watcher: FSWatcher | undefined;
  private watching = 0;
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();

  /**
   * Watches the records for changes (inotify through fs.watch) until the returned function is called, so
   * a wait for `built` ends when the provisioning server writes the record — in this process or another —
   * instead of at its next poll. Where the file system gives no events (some network file systems), the
   * waits' timeouts are the poll, as before.
   */
  watch(): () => void {
    if (this.watching++ === 0) {
      try {
        this.watcher = watchDir(this.dir, (_event, file) => {
          // A record is `<system>.json`, written through a temp file beside it (`<system>.json.<pid>….tmp`).
          const system = file ? String(file).split('.')[0]! : undefined;
          for (const s of system ? [system] : [...this.waiters.keys()]) {
            this.seen.set(s, (this.seen.get(s) ?? 0) + 1);
            for (const wake of [...(this.waiters.get(s) ?? [])]) wake();
          }
        });
        this.watcher.on('error', () => this.watcher?.close());
        this.watcher.unref();
      } catch {
        this.watcher = undefined; // no events: the polls alone
      }
    }
    return () => {
      if (--this.watching > 0) return;
      this.watcher?.close();
      this.watcher = undefined;
    };
  }

  /** How many changes of `system`'s files the watch has seen: read before the record, handed to changedSince. */
  changes(system: string): number {
    return this.seen.get(system) ?? 0;
  }

  /** Resolves once the watch saw `system`'s files change after `changes()` said `n`, or after `ms`. */
  changedSince(system: string, n: number, ms: number): Promise<void> {
    if (this.changes(system) !== n) return Promise.resolve();
    return new Promise((resolve) => {
      const set = this.waiters.get(system) ?? new Set<() => void>();
      this.waiters.set(system, set);
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        if (!set.size) this.waiters.delete(system);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      set.add(wake);
    });
  }

  private file(system: string, ext: string): string {
    if (!NAME.test(system)) throw new Error(`internal: "${system}" is not a system name`);
    return path.join(this.dir, `${system}.${ext}`);
  }

  async init(): Promise<void> {
    await fs.mkdir(path.join(this.dir, 'by-token'), { recursive: true, mode: 0o700 });
    await fs.mkdir(path.join(this.dir, 'by-mac'), { recursive: true, mode: 0o700 });
  }

  async get(system: string): Promise<InstallRecord | undefined> {
    return this.readRecord(this.file(system, 'json'));
  }

  private readRecord(file: string): InstallRecord | undefined {
    const r = readStateFile<InstallRecord>(file, recordProblem);
    if (r.status === 'ok') return r.value;
    if (r.status === 'corrupt')
      this.onCorrupt(
        `${corruptMessage(file, r)}; the system's install state is rebuilt from its VM's marker (a built VM is not reinstalled)`,
      );
    return undefined;
  }

  /** Every record: one directory read plus one read per record (local disk, no network). */
  async all(): Promise<InstallRecord[]> {
    const names = await fs
      .readdir(this.dir)
      .catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? [] : Promise.reject(e)));
    const out: InstallRecord[] = [];
    for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
      const r = this.readRecord(path.join(this.dir, n));
      if (r) out.push(r);
    }
    return out;
  }

  async put(r: InstallRecord): Promise<void> {
    await this.init();
    await atomicWrite(this.file(r.system, 'json'), JSON.stringify(r, null, 2));
    // The indexes change once per attempt, the record with every state: rewrite (and fsync) an index only
    // when it does not say this already.
    // Both after the record (an index must not lead to a record without its token), each other in any order.
    const index = async (file: string) => {
      if ((await readText(file)) !== r.system) await atomicWrite(file, r.system);
    };
    await Promise.all([
      index(path.join(this.dir, 'by-mac', r.mac.replace(/:/g, '-'))),
      r.tokenHash && ACTIVE.has(r.state) ? index(path.join(this.dir, 'by-token', r.tokenHash)) : undefined,
    ]);
  }

  async bySystemOfToken(token: string): Promise<InstallRecord | undefined> {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return undefined;
    const hash = hashToken(token);
    const system = await readText(path.join(this.dir, 'by-token', hash));
    const r = system && NAME.test(system) ? await this.get(system) : undefined;
    return r && r.tokenHash === hash ? r : undefined;
  }

  async byMac(mac: string): Promise<InstallRecord | undefined> {
    const system = await readText(path.join(this.dir, 'by-mac', mac.replace(/:/g, '-')));
    const r = system && NAME.test(system) ? await this.get(system) : undefined;
    return r && r.mac === mac ? r : undefined;
  }

  /** The secret-bearing files of one attempt. */
  async writeFiles(system: string, files: { answerFile: string; bootScript: string }): Promise<void> {
    await this.init();
    // Together: both are on disk before the record that points the server at them is written (startAttempt),
    // and written at once they share the directory's fsync.
    await Promise.all([
      atomicWrite(this.file(system, 'answer'), files.answerFile),
      atomicWrite(this.file(system, 'ipxe'), files.bootScript),
    ]);
  }

  async readFile(system: string, kind: 'answer' | 'ipxe'): Promise<string | undefined> {
    return readText(this.file(system, kind));
  }

  /** The token dies and the rendered files (password hash, token) go: at built, failed or timed out. */
  async retire(r: InstallRecord): Promise<void> {
    await Promise.all([
      fs.rm(this.file(r.system, 'answer'), { force: true }),
      fs.rm(this.file(r.system, 'ipxe'), { force: true }),
      r.tokenHash ? fs.rm(path.join(this.dir, 'by-token', r.tokenHash), { force: true }) : Promise.resolve(),
    ]);
  }

  async remove(system: string): Promise<void> {
    const r = await this.get(system);
    if (r) {
      await this.retire(r);
      const macFile = path.join(this.dir, 'by-mac', r.mac.replace(/:/g, '-'));
      if ((await readText(macFile)) === system) await fs.rm(macFile, { force: true });
    }
    await fs.rm(this.file(system, 'json'), { force: true });
  }
}

/** Temp file, fsync, rename, directory fsync (src/engine/state-file.ts); 0600: the files hold tokens and hashes. */
async function atomicWrite(file: string, text: string): Promise<void> {
  await writeFileAtomicAsync(file, text, 0o600);
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
