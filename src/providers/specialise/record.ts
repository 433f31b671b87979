/**
 * The record of applied roles lives on the target itself, at <root>/var/lib/shipshape/roles.json:
 * it travels with the machine and dies with it, so a rebuilt machine runs its roles again, and no
 * central store can disagree with the machine. It is written after every role (temp file, fsync,
 * rename), so a crash loses at most the role that was running, which then simply runs again.
 *
 * Reading the record and running every role's check is ONE remote command per host (one round trip
 * after the SSH handshake); the output is framed with a random marker that role output cannot forge.
 */
import { randomBytes } from 'node:crypto';
import { shq } from '../../transport/ssh';
import type { CompiledRole } from './role-model';

export const RECORD_PATH = '/var/lib/shipshape/roles.json';

export interface AppliedRole {
  digest: string;
  version?: string;
  appliedAt: string;
  commit?: string;
  /** The role's remove steps as compiled when it was applied (empty: it cannot be undone). */
  remove: { label: string; command: string; timeoutMs: number }[];
}

export interface FailedRole {
  role: string;
  step: number;
  label: string;
  code: number | null;
  at: string;
}

export interface RoleRecord {
  formatVersion: 1;
  /** Our ownership marker: a roles.json without it is not ours and is never overwritten. */
  managedBy: 'shipshape';
  system: string;
  roles: Record<string, AppliedRole>;
  /** The role that failed on the last run: the next run resumes there. */
  failed?: FailedRole;
}

export interface CheckResult {
  code: number;
  tail: string;
}

export interface HostState {
  /** undefined: no record on the host (never specialised, or rebuilt). */
  record?: RoleRecord;
  /** A roles.json exists but is not shipshape's (or unreadable): never touched. */
  foreign?: string;
  checks: Map<string, CheckResult>;
}

export function emptyRecord(system: string): RoleRecord {
  return { formatVersion: 1, managedBy: 'shipshape', system, roles: {} };
}

/** One command: print the record, then run each check in its own shell and print its exit code and last lines. */
export function readStateCommand(root: string, roles: CompiledRole[]): { command: string; marker: string } {
  const m = `@@shipshape-${randomBytes(8).toString('hex')}`;
  const lines = [
    `f=${shq(root + RECORD_PATH)}`,
    `echo ${m} record`,
    'if [ -e "$f" ]; then cat "$f"; fi',
    `echo; echo ${m} end`,
  ];
  for (const r of roles) {
    if (!r.check) continue;
    // Its own shell: `set -e` inside a check must not be switched off by the caller's `&&`/`||`.
    lines.push(
      `out=$(/bin/sh -c ${shq(r.check)} 2>&1 </dev/null); rc=$?`,
      `echo ${m} check ${shq(r.name)} $rc`,
      'printf "%s\\n" "$out" | tail -n 5',
      `echo ${m} end`,
    );
  }
  return { command: lines.join('\n'), marker: m };
}

export function parseState(stdout: string, marker: string, system: string): HostState {
  const checks = new Map<string, CheckResult>();
  let record: RoleRecord | undefined;
  let foreign: string | undefined;
  const blocks = stdout.split(`${marker} `).slice(1);
  for (const b of blocks) {
    const nl = b.indexOf('\n');
    const head = b.slice(0, nl < 0 ? b.length : nl).trim();
    const body = nl < 0 ? '' : b.slice(nl + 1).trim();
    if (head === 'record' && body !== '') {
      try {
        const v = JSON.parse(body) as RoleRecord;
        if (v && v.managedBy === 'shipshape' && v.formatVersion === 1 && typeof v.roles === 'object') record = v;
        else foreign = `${RECORD_PATH} exists but is not shipshape's record`;
      } catch {
        foreign = `${RECORD_PATH} is not valid JSON (a torn or edited record); move it aside on the machine and apply again (every role is then applied again)`;
      }
      if (record && record.system !== system)
        foreign = `${RECORD_PATH} belongs to system ${record.system}, not ${system}`;
    } else if (head.startsWith('check ')) {
      const m = /^check (\S+) (\d+)$/.exec(head);
      if (m) checks.set(m[1]!, { code: Number(m[2]), tail: body });
    }
  }
  return { ...(record && !foreign ? { record } : {}), ...(foreign ? { foreign } : {}), checks };
}

/** Writes the record atomically: temp file, fsync, rename over the old one. */
export function writeRecordCommand(root: string): string {
  const f = shq(root + RECORD_PATH);
  return `set -e; f=${f}; d=$(dirname "$f"); mkdir -p "$d"; chmod 0700 "$d"; t="$d/.roles.json.$$"; cat > "$t"; chmod 0600 "$t"; sync "$t" 2>/dev/null || true; mv -f "$t" "$f"; sync "$d" 2>/dev/null || true`;
}
