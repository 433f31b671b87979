/**
 * What runs in the lab: .lab/lab.json (git-ignored) records every daemon `lab up` started with its pid,
 * start time, address and log, so `lab down` stops exactly those (SIGTERM, then SIGKILL) and `lab status`
 * tells running from gone (a pid reused by another process does not count as ours).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, stopProcess } from './process';
import { stopLabSystems } from './systems';

export interface LabDaemon {
  name: string;
  pid: number;
  start: string;
  /** Where it answers, e.g. https://127.0.0.1:18989/sdk or 127.0.0.1:10053 (udp+tcp). */
  where: string;
  log: string;
}

export interface LabRecord {
  startedAt: string;
  daemons: LabDaemon[];
  /** What the lab stands in for instead of doing it for real (printed by up and status). */
  notes: string[];
}

export const labDir = (root: string) => join(root, '.lab');
const recordFile = (root: string) => join(labDir(root), 'lab.json');

export function readRecord(root: string): LabRecord | undefined {
  const f = recordFile(root);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as LabRecord) : undefined;
}

export function writeRecord(root: string, r: LabRecord): void {
  mkdirSync(labDir(root), { recursive: true });
  writeFileSync(recordFile(root), JSON.stringify(r, null, 2) + '\n');
}

/** Adds one started daemon to the record at once: a `lab up` that fails half-way leaves nothing unrecorded. */
export function recordDaemon(root: string, r: LabRecord, d: LabDaemon): void {
  r.daemons.push(d);
  writeRecord(root, r);
  // Tests run the lab too; .ci/run stops what a dead test process left (pid + start time).
  if (process.env.SHIPSHAPE_TEST_PIDS) appendFileSync(process.env.SHIPSHAPE_TEST_PIDS, `${d.pid} ${d.start}\n`);
}

export interface DaemonState extends LabDaemon {
  running: boolean;
}

export function labState(root: string): { record?: LabRecord; daemons: DaemonState[] } {
  const record = readRecord(root);
  const daemons = (record?.daemons ?? []).map((d) => ({ ...d, running: isAlive(d.pid, d.start) }));
  return { ...(record ? { record } : {}), daemons };
}

/** Stops every recorded daemon, last started first; removes the record. */
export async function stopLab(root: string, progress: (line: string) => void): Promise<number> {
  // The systems' namespaces first: they are the lab's even when its record is gone (a crash).
  await stopLabSystems(root, progress);
  const record = readRecord(root);
  if (!record) return 0;
  let stopped = 0;
  for (const d of [...record.daemons].reverse()) {
    const how = await stopProcess(d);
    if (how !== 'gone') stopped++;
    progress(`${d.name} (pid ${d.pid}): ${how === 'gone' ? 'was not running' : how}`);
  }
  rmSync(recordFile(root), { force: true });
  return stopped;
}
