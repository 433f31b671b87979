/**
 * Runs a system's roles over one SSH session: removed roles are undone first, then every role whose
 * digest changed, whose check failed, that is new, or that failed last time, in manifest order. The
 * record is written after each role; a failing step stops the system with the role, step, exit code
 * and the last lines of stderr, and the record names the failed role so the next run resumes there.
 */
import type { Logger } from '../../engine/contract';
import { SshCommandError, tail, type SshSession } from '../../transport/ssh';
import { emptyRecord, parseState, readStateCommand, writeRecordCommand, type HostState, type RoleRecord } from './record';
import type { CompiledRole } from './role-model';

export class SpecialiseStepError extends Error {
  override readonly name = 'SpecialiseStepError';
  constructor(
    readonly system: string,
    readonly role: string,
    readonly step: string,
    readonly code: number | null,
    readonly stderrTail: string,
    detail: string,
  ) {
    super(`role ${role}, ${step} ${detail}${stderrTail ? `:\n${stderrTail}` : ''}\nThe roles before it are recorded as done; the next apply resumes at ${role}.`);
  }
}

/** Why a role runs, or null when it holds. Shown by plan, used by apply. */
export function whyRun(role: CompiledRole, state: HostState): string | null {
  const applied = state.record?.roles[role.name];
  if (state.record?.failed?.role === role.name) return `failed at ${state.record.failed.label} on the last run (exit ${state.record.failed.code ?? 'none'})`;
  if (!applied) return 'new';
  if (applied.digest !== role.digest) return `changed (digest ${applied.digest.slice(0, 12)} → ${role.digest.slice(0, 12)})`;
  const c = state.checks.get(role.name);
  if (role.check && c && c.code !== 0) return `check failed (exit ${c.code})${c.tail ? `: ${c.tail.split('\n').slice(-1)[0]}` : ''}`;
  return null;
}

export interface RunContext {
  system: string;
  root: string;
  session: SshSession;
  log: Logger;
  commit?: string;
  now: () => Date;
}

export async function readHostState(session: SshSession, root: string, system: string, roles: CompiledRole[], timeoutMs: number): Promise<HostState> {
  const { command, marker } = readStateCommand(root, roles);
  const r = await session.exec(command, { label: 'read roles record and checks', timeoutMs });
  return parseState(r.stdout, marker, system);
}

async function writeRecord(rc: RunContext, record: RoleRecord): Promise<void> {
  await rc.session.exec(writeRecordCommand(rc.root), { stdin: JSON.stringify(record, null, 1) + '\n', label: 'write roles record', timeoutMs: 30_000 });
}

async function runStep(rc: RunContext, role: string, s: { label: string; command: string; stdin?: Buffer; timeoutMs: number }): Promise<void> {
  try {
    const r = await rc.session.exec(s.command, { ...(s.stdin ? { stdin: s.stdin } : {}), timeoutMs: s.timeoutMs, label: `${role} ${s.label}` });
    rc.log.info({ system: rc.system, role, step: s.label, code: r.code, stdout: tail(r.stdout, 20, 2000), stderr: tail(r.stderr, 20, 2000) }, 'specialise step done');
  } catch (e) {
    if (!(e instanceof SshCommandError)) throw e;
    rc.log.error({ system: rc.system, role, step: s.label, code: e.code, stderr: e.stderrTail }, 'specialise step failed');
    const how = e.timedOut ? `timed out after ${Math.round(s.timeoutMs / 1000)} s` : e.code !== null ? `exited ${e.code}` : `was killed by ${e.signal ?? 'a signal'}`;
    throw Object.assign(new SpecialiseStepError(rc.system, role, s.label, e.code, e.stderrTail, how), { cause: e });
  }
}

export interface RunOutcome {
  record: RoleRecord;
  ran: string[];
  removed: string[];
}

/** Brings the host to the desired roles; returns the record as written. */
export async function runRoles(rc: RunContext, desired: CompiledRole[], state: HostState): Promise<RunOutcome> {
  if (state.foreign) throw new SpecialiseStepError(rc.system, '(record)', 'reading the record', null, '', `refused: ${state.foreign}; shipshape does not overwrite it. Move it away if the machine is to be specialised by shipshape`);
  const record: RoleRecord = state.record ? { ...state.record, roles: { ...state.record.roles } } : emptyRecord(rc.system);
  const ran: string[] = [];
  const removed: string[] = [];
  const wanted = new Set(desired.map((r) => r.name));

  for (const [name, applied] of Object.entries(record.roles)) {
    if (wanted.has(name)) continue;
    if (applied.remove.length === 0) {
      rc.log.warn({ system: rc.system, role: name }, 'role removed from the manifest has no remove steps: it cannot be undone; shipshape forgets it and the machine keeps its effects');
    }
    for (const s of applied.remove) await runStep(rc, name, s);
    delete record.roles[name];
    removed.push(name);
    await writeRecord(rc, record);
  }

  for (const role of desired) {
    const why = whyRun(role, state);
    if (why === null) continue;
    rc.log.info({ system: rc.system, role: role.name, why }, 'running role');
    let current = -1;
    try {
      for (const s of role.steps) {
        current = s.index;
        await runStep(rc, role.name, s);
      }
    } catch (e) {
      const step = role.steps.find((s) => s.index === current);
      record.failed = { role: role.name, step: current + 1, label: step?.label ?? '?', code: e instanceof SpecialiseStepError ? e.code : null, at: rc.now().toISOString() };
      await writeRecord(rc, record).catch((w) => rc.log.error({ system: rc.system, err: (w as Error).message }, 'could not record the failed role'));
      throw e;
    }
    record.roles[role.name] = {
      digest: role.digest,
      ...(role.version !== undefined ? { version: role.version } : {}),
      appliedAt: rc.now().toISOString(),
      ...(rc.commit ? { commit: rc.commit } : {}),
      remove: role.remove,
    };
    if (record.failed?.role === role.name) delete record.failed;
    ran.push(role.name);
    await writeRecord(rc, record);
  }
  return { record, ran, removed };
}
