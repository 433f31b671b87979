/**
 * Create journals of earlier versions, moved into the engine's journal (src/engine/journal.ts).
 *
 * Before the journal was the engine's, the vSphere provider kept its own: one file per system with
 * `{ system, name, folder, startedAt, task?, vm? }`, first in the repo's `.shipshape/journal/vsphere/`,
 * later in `<state dir>/journal/vsphere/<scope>/` (scope: the first 16 hex digits of
 * sha256(`url|datacenter|folder`)). The current version never looks there, so an entry left by a
 * run killed mid-clone would be lost, and with it the proof that a same-named VM without a marker
 * is the clone that run started. Each one found for this site becomes an engine entry of kind `vm`
 * (`detail.task`, `detail.vm`) unless the engine already holds one for that system (newer), and
 * the old file is removed. Idempotent; nothing to do on a state dir that never had them.
 */
import { createHash } from 'node:crypto';
import { readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import type { CreateJournal } from '../../engine/journal';
import type { Logger } from '../../engine/contract';
import { readStateFile, removeStateFile, shape } from '../../engine/state-file';

interface LegacyEntry {
  system: string;
  startedAt: string;
  task?: string;
  vm?: string;
}

export interface LegacyScope {
  stateDir: string;
  /** The repo root (the oldest layout kept the journal inside the repo). */
  root: string;
  vms: { url: string; datacenter: string; folder: string };
}

export function legacyJournalDirs(s: LegacyScope): string[] {
  const scope = createHash('sha256')
    .update(`${s.vms.url}|${s.vms.datacenter}|${s.vms.folder}`)
    .digest('hex')
    .slice(0, 16);
  return [path.join(s.stateDir, 'journal', 'vsphere', scope), path.join(s.root, '.shipshape', 'journal', 'vsphere')];
}

function check(v: unknown): string | undefined {
  const bad = shape.strings(v, ['system', 'startedAt']);
  if (bad) return bad;
  const e = v as Record<string, unknown>;
  for (const k of ['task', 'vm']) if (e[k] !== undefined && typeof e[k] !== 'string') return `field ${k} is not text`;
  return undefined;
}

/** Moves this site's old-layout entries into `journal`; returns the systems moved. */
export function migrateLegacyJournals(s: LegacyScope, journal: CreateJournal, log?: Logger): string[] {
  const moved: string[] = [];
  for (const dir of legacyJournalDirs(s)) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      continue;
    }
    for (const n of names) {
      const file = path.join(dir, n);
      const system = n.slice(0, -'.json'.length);
      const r = readStateFile<LegacyEntry>(file, check);
      if (r.status === 'missing') continue;
      // A torn old entry still says a clone of this system was under way, as a torn new one does.
      const old: LegacyEntry = r.status === 'ok' ? r.value : { system, startedAt: new Date(0).toISOString() };
      if (r.status === 'corrupt')
        log?.warn(
          { file, movedTo: r.movedTo },
          `create journal ${file} of an earlier version was corrupt (${r.reason}); moved it to ${r.movedTo}`,
        );
      if (journal.read('vm', old.system)) {
        log?.warn(
          { file },
          `create journal ${file} of an earlier version: the current journal already has ${old.system}; removed the old one`,
        );
      } else {
        const detail: Record<string, string> = {};
        if (old.task) detail.task = old.task;
        if (old.vm) detail.vm = old.vm;
        journal.record({ kind: 'vm', system: old.system, startedAt: old.startedAt, detail });
        log?.warn(
          { file, to: journal.pathFor('vm', old.system) },
          `create journal ${file} of an earlier version moved to ${journal.pathFor('vm', old.system)}: an interrupted create of ${old.system}`,
        );
        moved.push(old.system);
      }
      if (r.status === 'ok') removeStateFile(file);
    }
    try {
      rmdirSync(dir); // only when empty: anything else in it stays for the operator to see
    } catch {
      /* not empty, or gone */
    }
  }
  return moved;
}

/** For apply, before it resolves interrupted creates: a site whose `vms:` is vSphere. */
export function migrateSiteJournals(
  stateDir: string,
  root: string,
  vms: { backend?: string; url?: unknown; datacenter?: unknown; folder?: unknown } | undefined,
  journal: CreateJournal,
  log?: Logger,
): string[] {
  if (vms?.backend !== 'vsphere') return [];
  const { url, datacenter, folder } = vms as { url: string; datacenter: string; folder: string };
  return migrateLegacyJournals({ stateDir, root, vms: { url, datacenter, folder } }, journal, log);
}
