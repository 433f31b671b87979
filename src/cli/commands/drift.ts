import { join } from 'node:path';
import { identitiesOf } from '../../plan/consistency';
import type { Logger, ResourceKind } from '../../engine/contract';
import { isTargeted, selectSystems } from '../../plan/target';
import { driftReport, type DriftHistory, type DriftReport } from '../../plan/drift';
import { renderDriftJson, renderDriftMarkdown, renderDriftText } from '../../plan/render/drift';
import type { Io } from '../io';
import { readJsonFile, writeJsonFile, writeOut } from '../io';
import { closeAll, stateDir } from '../pipeline';
import type { RunRecorder } from '../../history/recorder';
import { recorded, startRecorder } from '../record';
import { freshPlan, type SourceOptions } from './plan';
import { forEachSite, runName, siteFile } from '../sites';

/** `shipshape drift`: read-only; exit 2 when something changed behind git's back. Once per site in a repo with sites/. */
export async function driftCommand(
  opts: SourceOptions & { format: 'text' | 'markdown' | 'json'; out?: string },
  io: Io,
  log: Logger,
): Promise<number> {
  return forEachSite(
    opts,
    io,
    (o, multi) => driftSite(multi && o.out ? { ...o, out: siteFile(o.out, runName(o)) } : o, io, log),
    opts.format === 'json' && !opts.out
      ? "a JSON drift report is one site's: add --site NAME, or --out FILE (one file per site)"
      : undefined,
  );
}

async function driftSite(
  opts: SourceOptions & { format: 'text' | 'markdown' | 'json'; out?: string },
  io: Io,
  log: Logger,
): Promise<number> {
  const report = await driftOnce(opts, io, log);
  const text =
    opts.format === 'json'
      ? renderDriftJson(report)
      : opts.format === 'markdown'
        ? renderDriftMarkdown(report)
        : renderDriftText(report);
  writeOut(io, text, opts.out);
  return report.drifted ? 2 : 0;
}

/** One drift check, keeping the first-seen history in the state dir. Used by `drift` and `serve`. */
export async function driftOnce(opts: SourceOptions, io: Io, log: Logger): Promise<DriftReport> {
  // A narrowed drift run sees part of the estate: what it does not see has not "resolved", so it sends no webhooks.
  const targeted = isTargeted(opts.target) || !!opts.changedSince;
  const rec = startRecorder('drift', targeted ? { ...opts, notify: undefined } : opts, io);
  return recorded(
    rec,
    () => driftRun(opts, io, log, rec),
    (drift) => ({ drift }),
  );
}

async function driftRun(opts: SourceOptions, io: Io, log: Logger, rec: RunRecorder): Promise<DriftReport> {
  // Drift is what changed behind git's back: every target is read, nothing kept from an earlier read is trusted.
  const { plan, providers, observations, loaded, target } = await freshPlan(
    { ...opts, refresh: true },
    io,
    log,
    undefined,
    rec,
  );
  await closeAll(providers, log);
  const historyFile = join(stateDir(opts.stateDir), 'drift-history.json');
  const before = readJsonFile<DriftHistory>(historyFile, {});
  const { report, history } = driftReport(plan, before, new Date(), observations, identitiesOf(providers));
  // Keep when drift was first seen for what a narrowed run did not look at (keys are system/kind/path/value).
  const names = target
    ? selectSystems(loaded.repo.systems, target, opts.site ? () => undefined : undefined)
    : undefined;
  const seen = (key: string) => {
    const [system, kind] = key.split('/');
    return (!names || names.has(system!)) && (!target?.kinds?.length || target.kinds.includes(kind as ResourceKind));
  };
  const kept = target ? Object.fromEntries(Object.entries(before).filter(([k]) => !seen(k))) : {};
  writeJsonFile(historyFile, { ...kept, ...history });
  return report;
}
