/** The one place the CLI commands start a history record (see src/history/recorder.ts). */
import { RunRecorder } from '../history/recorder';
import type { RunKind, RunRecord } from '../history/types';
import type { Webhook } from '../notify/webhook';
import type { Io } from './io';
import { stateDir } from './pipeline';

/** What every recorded run takes from the global options and from serve. */
export interface RecordOptions {
  dir: string;
  repo?: string;
  stateDir?: string;
  /** Why the run happened (serve: schedule, source moved, files changed); default `cli` or $SHIPSHAPE_TRIGGER. */
  trigger?: string;
  notify?: Webhook[];
  historyDays?: number;
  /** Called with the finished record (serve logs its one result line from it). */
  onRecorded?: (r: RunRecord) => void;
}

export function startRecorder(kind: RunKind, opts: RecordOptions, io: Io): RunRecorder {
  return new RunRecorder({
    stateDir: stateDir(opts.stateDir),
    kind,
    ...(opts.trigger ? { trigger: opts.trigger } : {}),
    source: opts.repo ?? opts.dir,
    ...(opts.historyDays !== undefined ? { retentionDays: opts.historyDays } : {}),
    ...(opts.notify ? { webhooks: opts.notify } : {}),
    ...(opts.onRecorded ? { onRecorded: opts.onRecorded } : {}),
    warn: io.err,
  });
}

/** Runs `fn` as one recorded run: a thrown error is recorded as the run's error and thrown on. */
export async function recorded<T>(
  rec: RunRecorder,
  fn: () => Promise<T>,
  result: (v: T) => Parameters<RunRecorder['finished']>[0],
): Promise<T> {
  let value: T;
  try {
    value = await fn();
  } catch (e) {
    await rec.failed(e);
    throw e;
  }
  await rec.finished(result(value));
  return value;
}
