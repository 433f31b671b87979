/**
 * One installation attempt: issue a token, render with it, store record and files; then wait for
 * the installer's verdict in the shared store (built | failed) or the deadline (timed out). The wait
 * wakes when the record changes on disk (the provisioning server wrote the callback), the poll
 * interval only where the file system sends no change events.
 * The deadline counts from the attempt's start, so a crashed and re-run apply keeps the same one.
 */
import { InstallFailedError, InstallTimeoutError } from './errors';
import { moved, type InstallRecord } from './state';
import { InstallStore, newToken } from './store';

export interface AttemptInput {
  system: string;
  mac: string;
  /** The system's address: the provisioning server answers this install only from it. */
  ip?: string;
  os: string;
  bootPath: 'dhcp' | 'iso';
  /** The VM this attempt installs (vSphere instanceUuid): a record of another VM is not this VM's install. */
  vmInstanceUuid?: string;
  tokenTtlMs: number;
  now: Date;
  commit?: string;
  /** Renders the answer file and boot script with the attempt's token. */
  render: (
    token: string,
  ) => { answerFile: string; bootScript: string } | Promise<{ answerFile: string; bootScript: string }>;
}

export async function startAttempt(
  store: InstallStore,
  a: AttemptInput,
): Promise<{ record: InstallRecord; token: string }> {
  const prev = await store.get(a.system);
  if (prev?.state === 'built') throw new Error(`internal: ${a.system} is built; an install never restarts by itself`);
  const { token, hash } = newToken();
  const files = await a.render(token);
  const at = a.now.toISOString();
  const base: InstallRecord = prev
    ? prev.state === 'failed' || prev.state === 'timed-out'
      ? moved(prev, 'requested', a.now)
      : { ...prev, state: 'requested', history: [...prev.history, { state: 'requested' as const, at }].slice(-20) }
    : {
        system: a.system,
        mac: a.mac,
        os: a.os,
        bootPath: a.bootPath,
        state: 'requested',
        requestedAt: at,
        updatedAt: at,
        attempt: 0,
        history: [{ state: 'requested', at }],
      };
  if (prev) await store.retire(prev);
  const record: InstallRecord = {
    ...base,
    mac: a.mac.toLowerCase(),
    ...(a.ip ? { ip: a.ip } : {}),
    ...(a.vmInstanceUuid ? { vmInstanceUuid: a.vmInstanceUuid } : {}),
    os: a.os,
    bootPath: a.bootPath,
    tokenHash: hash,
    expiresAt: new Date(a.now.getTime() + a.tokenTtlMs).toISOString(),
    requestedAt: at,
    updatedAt: at,
    attempt: (prev?.attempt ?? 0) + 1,
    ...(a.commit ? { commit: a.commit } : {}),
  };
  delete record.failureLog;
  delete record.hostKey;
  delete record.callbackHostKey;
  // Files first: the record makes the system visible to the server, so it must never point at missing files.
  await store.writeFiles(a.system, files);
  await store.put(record);
  return { record, token };
}

export interface WaitOptions {
  deadline: Date;
  pollMs: number;
  signal?: AbortSignal;
  now?: () => Date;
  onProgress?: (r: InstallRecord) => void;
}

/** Resolves with the built record; throws InstallFailedError (with the log tail) or InstallTimeoutError. */
export async function waitForBuilt(store: InstallStore, system: string, o: WaitOptions): Promise<InstallRecord> {
  const now = o.now ?? (() => new Date());
  let last: string | undefined;
  const unwatch = store.watch();
  try {
    return await waitLoop(store, system, o, now, (r) => {
      if (r.state !== last) {
        last = r.state;
        o.onProgress?.(r);
      }
    });
  } finally {
    unwatch();
  }
}

async function waitLoop(
  store: InstallStore,
  system: string,
  o: WaitOptions,
  now: () => Date,
  seen: (r: InstallRecord) => void,
): Promise<InstallRecord> {
  for (;;) {
    // Counted before the read: a change between the read and the wait ends the wait at once.
    const changes = store.changes(system);
    const r = await store.get(system);
    if (!r) throw new Error(`internal: install record of ${system} vanished while waiting`);
    seen(r);
    if (r.state === 'built') return r;
    if (r.state === 'failed')
      throw new InstallFailedError(
        `system ${system}: the installer reported failure (attempt ${r.attempt}). Last lines of its log:\n${tailLines(r.failureLog ?? '(no log sent)', 40)}`,
      );
    if (r.state === 'timed-out')
      throw new InstallTimeoutError(`system ${system}: the install timed out earlier (attempt ${r.attempt})`);
    if (now() >= o.deadline) {
      const timed = moved(r, 'timed-out', now(), { tokenHash: undefined, expiresAt: undefined });
      await store.put(timed);
      await store.retire(r);
      throw new InstallTimeoutError(
        `system ${system}: no "built" from the installer by ${o.deadline.toISOString()} (last state: ${r.state}); check the VM console, then apply again to start a new attempt`,
      );
    }
    if (o.signal?.aborted)
      throw new Error(
        `waiting for ${system}'s install was cancelled; the install goes on and the next run picks it up`,
      );
    await store.changedSince(system, changes, Math.min(o.pollMs, Math.max(10, o.deadline.getTime() - now().getTime())));
  }
}

function tailLines(s: string, n: number): string {
  return s.split('\n').slice(-n).join('\n');
}
