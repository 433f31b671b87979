/**
 * The role record (and check results) last read from a host, kept in the state dir for exactly one
 * boot of one machine, so a plan does not open an SSH session to a host nothing can have changed on.
 *
 * SSH gives no change stamp, so the key is the machine's identity as the VM platform reports it:
 * instanceUuid (a VM made again has a new one) + the time it was last powered on (vSphere
 * `runtime.bootTime`: a power cycle, a restore or a reinstall gives a new one) + the install marker
 * and host key (a reinstall gives new ones) + where and as whom shipshape logs in. Only shipshape
 * writes the record (apply, which replaces the entry after its roles ran); what the key cannot see —
 * a hand edit of the record, or of a file a role manages, while the machine stays up — is seen by
 * `drift` and `--refresh`, which always read the targets (README of this folder).
 *
 * Safe to lose: a missing, torn or foreign entry is a miss, and a miss costs one full read of that
 * host (which writes the entry again). Nothing is fsynced for that reason. A host without both an
 * instanceUuid and a boot time (no VM platform, a VM that is off) is never cached.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckResult, HostState, RoleRecord } from './record';
import type { CompiledRole } from './role-model';
import { sha256Hex } from '../../plan/digest';

const VERSION = 1;

/** What names one boot of one machine, reached one way. */
export interface HostIdentity {
  system: string;
  instanceUuid: string;
  bootTime: string;
  address: string;
  port: number;
  user: string;
  /** The pinned host key (install or guestinfo), '' when known_hosts decides. */
  hostKey: string;
  /** The VM's install marker (`built`, `adopted`, …), '' when it has none. */
  installMarker: string;
  /** The lab's root prefix of the system ('' on real hosts). */
  root: string;
}

interface Entry {
  version: number;
  key: string;
  system: string;
  readAt: string;
  record: RoleRecord;
  /** Per role: the digest of the role whose check gave this result, and the result. */
  checks: Record<string, CheckResult & { digest: string }>;
}

export function identityKey(id: HostIdentity): string {
  const parts = [
    id.system,
    id.instanceUuid,
    id.bootTime,
    id.address,
    String(id.port),
    id.user,
    id.hostKey,
    id.installMarker,
    id.root,
  ];
  return sha256Hex(parts.join('\0'));
}

export class RoleRecordCache {
  constructor(readonly dir: string) {}

  private file(id: HostIdentity): string {
    // instanceUuid is a UUID; anything else is hashed so it can never leave the folder.
    const name = /^[0-9a-fA-F-]{8,64}$/.test(id.instanceUuid)
      ? id.instanceUuid.toLowerCase()
      : createHash('sha256').update(id.instanceUuid).digest('hex').slice(0, 32);
    return join(this.dir, `${name}.json`);
  }

  /**
   * The state last read for this very boot, or undefined (a miss: read the host). With `checks`, a
   * hit needs a result for every check a role would be judged by (the record holds its digest): a
   * check whose role changed since is never taken from here. Without (a read-only plan), the record alone.
   */
  get(id: HostIdentity, roles: CompiledRole[], checks: boolean): HostState | undefined {
    let e: Entry;
    try {
      e = JSON.parse(readFileSync(this.file(id), 'utf8')) as Entry;
    } catch {
      return undefined;
    }
    if (!e || e.version !== VERSION || e.key !== identityKey(id) || e.system !== id.system) return undefined;
    if (!e.record || e.record.managedBy !== 'shipshape' || typeof e.record.roles !== 'object') return undefined;
    const out = new Map<string, CheckResult>();
    if (checks) {
      for (const r of roles) {
        if (!r.check || e.record.roles[r.name]?.digest !== r.digest) continue;
        const c = e.checks?.[r.name];
        if (!c || c.digest !== r.digest || typeof c.code !== 'number') return undefined;
        out.set(r.name, { code: c.code, tail: String(c.tail ?? '') });
      }
    }
    return { record: e.record, checks: out };
  }

  /**
   * Keeps what a full read (or an apply) found, with the results of the checks a plan judges roles by:
   * those of roles the record holds at their current digest (a new or changed role runs whatever its
   * check says). A state without a record of ours is not kept (and drops the entry).
   */
  put(id: HostIdentity, state: HostState, roles: CompiledRole[], now: Date): void {
    if (!state.record || state.foreign) return this.forget(id);
    const checks: Entry['checks'] = {};
    for (const r of roles) {
      const c = state.checks.get(r.name);
      if (r.check && c && state.record.roles[r.name]?.digest === r.digest) checks[r.name] = { ...c, digest: r.digest };
    }
    const entry: Entry = {
      version: VERSION,
      key: identityKey(id),
      system: id.system,
      readAt: now.toISOString(),
      record: state.record,
      checks,
    };
    const file = this.file(id);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(entry) + '\n', { mode: 0o600 });
      renameSync(tmp, file);
    } catch {
      // Not kept: the next plan reads the host in full, which is all a lost entry costs.
    }
  }

  /** Drops the entry, e.g. before apply changes the host (a run killed mid-role then leaves no stale entry). */
  forget(id: HostIdentity): void {
    try {
      rmSync(this.file(id), { force: true });
    } catch {
      /* a miss next time either way */
    }
  }
}
