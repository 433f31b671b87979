/**
 * The installation state machine, one per system:
 *   requested → vm-created → booting → installing → built | failed | timed-out
 * `built` is final: nothing moves a system out of it, so a built system never reinstalls by
 * accident (its boot script becomes "boot from disk"). `failed` and `timed-out` may start a new
 * attempt (`requested`, with a fresh token). Every other move is refused.
 */
export const INSTALL_STATES = [
  'requested',
  'vm-created',
  'booting',
  'installing',
  'built',
  'failed',
  'timed-out',
] as const;
export type InstallState = (typeof INSTALL_STATES)[number];

const NEXT: Record<InstallState, readonly InstallState[]> = {
  requested: ['vm-created', 'booting', 'installing', 'failed', 'timed-out'],
  'vm-created': ['booting', 'installing', 'failed', 'timed-out'],
  // An installer may fetch its boot script more than once (a reboot before the answer file was read).
  booting: ['booting', 'installing', 'failed', 'timed-out'],
  installing: ['installing', 'built', 'failed', 'timed-out'],
  built: [],
  failed: ['requested'],
  'timed-out': ['requested'],
};

/** While in these states the system holds a live token and rendered files. */
export const ACTIVE: ReadonlySet<InstallState> = new Set(['requested', 'vm-created', 'booting', 'installing']);

export class InstallStateError extends Error {
  override readonly name = 'InstallStateError';
}

export function canMove(from: InstallState, to: InstallState): boolean {
  return NEXT[from].includes(to);
}

export function assertMove(system: string, from: InstallState, to: InstallState): void {
  if (!canMove(from, to))
    throw new InstallStateError(`system ${system}: install state cannot go from ${from} to ${to}`);
}

export interface InstallRecord {
  system: string;
  /** Lower-case, colon-separated. */
  mac: string;
  /** The system's address from the ip step: the provisioning server answers the install's requests only from it. */
  ip?: string;
  os: string;
  bootPath: 'dhcp' | 'iso';
  /**
   * The VM this record is about (vSphere instanceUuid; vCenter gives every VM its own, also a VM made
   * again under the same name). A record of another VM is stale: that VM is gone, this one is not installed.
   */
  vmInstanceUuid?: string;
  state: InstallState;
  /** sha256 (hex) of the live token; absent once the token died. */
  tokenHash?: string;
  /** When the token dies unless progress renews it (ISO 8601). */
  expiresAt?: string;
  /** Start of this attempt: the deadline counts from here, across crashes and re-runs. */
  requestedAt: string;
  updatedAt: string;
  attempt: number;
  /**
   * The installed system's SSH host key (public key line) that specialisation pins: confirmed over a
   * channel a network neighbour cannot write (the VM's guestinfo, read from vCenter), or taken from
   * the callback only where the site says so (provisioning.hostKeyFrom: callback).
   */
  hostKey?: string;
  /** The key the `built` callback claimed: a neighbour could have posted it, so it is never trusted alone. */
  callbackHostKey?: string;
  /** Datastore path of the boot ISO while it is attached (ISO path). */
  iso?: string;
  /** The installer's log tail on failure, with password hashes and tokens removed. */
  failureLog?: string;
  /** Last moves, newest last (bounded). */
  history: { state: InstallState; at: string }[];
  commit?: string;
}

export function moved(
  r: InstallRecord,
  to: InstallState,
  now: Date,
  patch: Partial<InstallRecord> = {},
): InstallRecord {
  assertMove(r.system, r.state, to);
  const at = now.toISOString();
  return { ...r, ...patch, state: to, updatedAt: at, history: [...r.history, { state: to, at }].slice(-20) };
}
