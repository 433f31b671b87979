/**
 * `shipshape lab up | down | status`: the local lab (vcsim, the i-doit emulator, named, sshd, Kea) for a site
 * that says `lab: true`. The daemons run detached and are recorded in .lab/lab.json; `down` stops them by pid.
 */
import { resolve } from 'node:path';
import type { Logger } from '../../engine/contract';
import { credentialsFile } from '../../lab/credentials';
import { labState, stopLab } from '../../lab/record';
import { labSystemAlive, readLabSystems } from '../../lab/systems';
import { labUp } from '../../lab/up';
import { labWorld, renderWorld } from '../../lab/world';
import type { Io } from '../io';
import { loadValid } from '../pipeline';

const say = (io: Io) => (line: string) => io.out(`[lab] ${line}\n`);

export async function labUpCommand(opts: { dir: string }, io: Io, _log: Logger): Promise<number> {
  const { repo } = await loadValid(opts.dir, io.err);
  const t0 = Date.now();
  const { record, alreadyRunning } = await labUp(repo.site, say(io));
  if (alreadyRunning) say(io)('already running (shipshape lab status shows where; shipshape lab down stops it)');
  else say(io)(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${record.daemons.length} daemons`);
  for (const n of record.notes) say(io)(`NOTE ${n}`);
  say(io)(`credentials: set -a; . ${credentialsFile(repo.site.root)}; set +a`);
  return 0;
}

export async function labDownCommand(opts: { dir: string }, io: Io): Promise<number> {
  const root = resolve(opts.dir);
  const n = await stopLab(root, say(io));
  say(io)(n === 0 ? 'nothing was running' : `stopped ${n} daemon${n === 1 ? '' : 's'}`);
  return 0;
}

/** Exit 0 when every recorded daemon runs, 3 when the lab is stopped or only partly running. */
export async function labStatusCommand(opts: { dir: string; json?: boolean }, io: Io): Promise<number> {
  const root = resolve(opts.dir);
  const { record, daemons } = labState(root);
  const allUp = daemons.length > 0 && daemons.every((d) => d.running);
  // The systems an install brought up (each in its namespace with its sshd): not daemons of `lab up`.
  const systems = readLabSystems(root).map((s) => ({
    system: s.system,
    address: s.ip,
    netns: s.netns,
    running: labSystemAlive(s),
    log: s.log,
  }));
  if (opts.json) {
    io.out(
      JSON.stringify(
        { running: allUp, startedAt: record?.startedAt ?? null, daemons, systems, notes: record?.notes ?? [] },
        null,
        2,
      ) + '\n',
    );
    return allUp ? 0 : 3;
  }
  if (!record) {
    io.out('the lab is not running (start it: shipshape lab up)\n');
    return 3;
  }
  io.out(
    `lab started ${record.startedAt}: ${allUp ? 'running' : 'NOT fully running (shipshape lab down, then lab up)'}\n`,
  );
  const w = Math.max(...daemons.map((d) => d.name.length));
  for (const d of daemons)
    io.out(`  ${d.name.padEnd(w)}  ${d.running ? 'running' : 'stopped'}  pid ${d.pid}  ${d.where}  log ${d.log}\n`);
  for (const s of systems)
    io.out(`  system ${s.system}  ${s.running ? 'running' : 'stopped'}  sshd on ${s.address} in netns ${s.netns}\n`);
  for (const n of record.notes.length ? record.notes : []) io.out(`  note: ${n}\n`);
  return allUp ? 0 : 3;
}

/** Read-only: each system of the repo as vCenter, i-doit and DNS show it. */
export async function labWorldCommand(opts: { dir: string; json?: boolean }, io: Io): Promise<number> {
  const { repo } = await loadValid(opts.dir, io.err);
  const rows = await labWorld(repo.site, repo.systems);
  io.out(opts.json ? JSON.stringify(rows, null, 2) + '\n' : renderWorld(rows));
  return 0;
}
