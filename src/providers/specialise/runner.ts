/**
 * Runs a system's roles over one SSH session: removed roles are undone first, then every role whose
 * digest changed, whose check failed, that is new, or that failed last time, in manifest order. The
 * record is written after each role; a failing step stops the system with the role, step, exit code
 * and the last lines of stderr, and the record names the failed role so the next run resumes there.
 */
import type { Logger } from '../../engine/contract';
import { SshCommandError, tail, type SshSession } from '../../transport/ssh';
import { batchScript, parseBatch, type BatchStep } from './batch';
import { Refusal } from '../../engine/refusals';
import {
  emptyRecord,
  parseState,
  readStateCommand,
  writeRecordCommand,
  type HostState,
  type RoleRecord,
} from './record';
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
    super(
      `role ${role}, ${step} ${detail}${stderrTail ? `:\n${stderrTail}` : ''}\nThe roles before it are recorded as done; the next apply resumes at ${role}.`,
    );
  }
}

/** Why a role runs, or null when it holds. Shown by plan, used by apply. */
export function whyRun(role: CompiledRole, state: HostState): string | null {
  const applied = state.record?.roles[role.name];
  if (state.record?.failed?.role === role.name)
    return `failed at ${state.record.failed.label} on the last run (exit ${state.record.failed.code ?? 'none'})`;
  if (!applied) return 'new';
  if (applied.digest !== role.digest)
    return `changed (digest ${applied.digest.slice(0, 12)} → ${role.digest.slice(0, 12)})`;
  const c = state.checks.get(role.name);
  if (role.check && c && c.code !== 0)
    return `check failed (exit ${c.code})${c.tail ? `: ${c.tail.split('\n').slice(-1)[0]}` : ''}`;
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

export async function readHostState(
  session: SshSession,
  root: string,
  system: string,
  roles: CompiledRole[],
  timeoutMs: number,
): Promise<HostState> {
  const { command, marker } = readStateCommand(root, roles);
  const r = await session.exec(command, { label: 'read roles record and checks', timeoutMs });
  return parseState(r.stdout, marker, system);
}

interface Step {
  label: string;
  command: string;
  stdin?: Buffer;
  timeoutMs: number;
}

/**
 * Runs steps (then, when they all succeed, writes `recordAfter`) as one remote command; logs each
 * step's output; throws SpecialiseStepError for the first failing step, with its index.
 */
async function runBatch(rc: RunContext, role: string, steps: Step[], recordAfter: RoleRecord): Promise<void> {
  const batch: BatchStep[] = steps.map((s, i) => ({
    key: String(i),
    command: s.command,
    ...(s.stdin ? { stdin: s.stdin } : {}),
    timeoutMs: s.timeoutMs,
  }));
  batch.push({
    key: 'record',
    command: writeRecordCommand(rc.root),
    stdin: Buffer.from(JSON.stringify(recordAfter, null, 1) + '\n'),
    timeoutMs: 30_000,
  });
  const { script, marker, timeoutMs } = batchScript(batch);
  const labelOf = (key: string) => (key === 'record' ? 'writing the record' : steps[Number(key)]!.label);
  let stdout = '';
  let stderr: string;
  try {
    const r = await rc.session.exec('/bin/sh -s', { stdin: script, timeoutMs, label: `role ${role}` });
    stdout = r.stdout;
    stderr = r.stderr;
  } catch (e) {
    if (!(e instanceof SshCommandError)) throw e;
    stderr = e.stderrTail;
  }
  const results = parseBatch(stdout, stderr, marker);
  for (const r of results) {
    const entry = {
      system: rc.system,
      role,
      step: labelOf(r.key),
      code: r.code,
      stdout: tail(r.stdout, 20, 2000),
      stderr: tail(r.stderr, 20, 2000),
    };
    if (r.code === 0) rc.log.info(entry, 'specialise step done');
    else rc.log.error(entry, 'specialise step failed');
  }
  const bad = results.find((r) => r.code !== 0);
  const missing = results.length < batch.length && !bad ? batch[results.length]! : undefined;
  if (!bad && !missing) return;
  const key = bad?.key ?? missing!.key;
  const secs = Math.ceil((batch.find((b) => b.key === key)?.timeoutMs ?? 0) / 1000);
  const code = bad?.code ?? null;
  const how =
    code === 124
      ? `timed out after ${secs} s`
      : code === null
        ? missing
          ? 'never started: the command ended early (connection lost?)'
          : 'did not finish (connection lost, or the role exceeded its time)'
        : `exited ${code}`;
  const err = new SpecialiseStepError(
    rc.system,
    role,
    labelOf(key),
    code,
    tail(bad?.stderr || bad?.stdout || stderr),
    how,
  );
  throw Object.assign(err, { stepIndex: key === 'record' ? -1 : Number(key) });
}

export interface RunOutcome {
  record: RoleRecord;
  ran: string[];
  removed: string[];
}

/** Brings the host to the desired roles; returns the record as written. */
export async function runRoles(rc: RunContext, desired: CompiledRole[], state: HostState): Promise<RunOutcome> {
  if (state.foreign)
    throw new Refusal(
      'foreign-record',
      `system ${rc.system}: refused: ${state.foreign}; shipshape does not overwrite it. Move it away if the machine is to be specialised by shipshape`,
    );
  const record: RoleRecord = state.record
    ? { ...state.record, roles: { ...state.record.roles } }
    : emptyRecord(rc.system);
  const ran: string[] = [];
  const removed: string[] = [];
  const wanted = new Set(desired.map((r) => r.name));

  for (const [name, applied] of Object.entries(record.roles)) {
    if (wanted.has(name)) continue;
    if (applied.remove.length === 0) {
      rc.log.warn(
        { system: rc.system, role: name },
        'role removed from the manifest has no remove steps: it cannot be undone; shipshape forgets it and the machine keeps its effects',
      );
    }
    delete record.roles[name];
    await runBatch(rc, name, applied.remove, record);
    removed.push(name);
  }

  for (const role of desired) {
    const why = whyRun(role, state);
    if (why === null) continue;
    rc.log.info({ system: rc.system, role: role.name, why }, 'running role');
    const done: RoleRecord = { ...record, roles: { ...record.roles } };
    done.roles[role.name] = {
      digest: role.digest,
      ...(role.version !== undefined ? { version: role.version } : {}),
      appliedAt: rc.now().toISOString(),
      ...(rc.commit ? { commit: rc.commit } : {}),
      remove: role.remove,
    };
    if (done.failed?.role === role.name) delete done.failed;
    try {
      await runBatch(rc, role.name, role.steps, done);
    } catch (e) {
      const i = (e as { stepIndex?: number }).stepIndex ?? -1;
      const step = role.steps[i];
      record.failed = {
        role: role.name,
        step: i + 1,
        label: step?.label ?? 'writing the record',
        code: e instanceof SpecialiseStepError ? e.code : null,
        at: rc.now().toISOString(),
      };
      await rc.session
        .exec(writeRecordCommand(rc.root), {
          stdin: JSON.stringify(record, null, 1) + '\n',
          label: 'write roles record',
          timeoutMs: 30_000,
        })
        .catch((w) =>
          rc.log.error({ system: rc.system, err: (w as Error).message }, 'could not record the failed role'),
        );
      throw e;
    }
    record.roles = done.roles;
    if (record.failed?.role === role.name) delete record.failed;
    ran.push(role.name);
  }
  return { record, ran, removed };
}
