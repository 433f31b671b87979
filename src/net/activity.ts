/**
 * When any backend last sent this process something (an HTTP answer's headers or bytes, SSH output or
 * a file read over SFTP). The slow-observe notice (src/cli/slow-observe.ts) speaks only after a
 * silence: a large vCenter that pages its answer for a minute keeps sending and is not "hanging".
 */
let last = 0;

export function heard(): void {
  last = Date.now();
}

/** Epoch ms of the last bytes received from any backend (0: none yet). */
export function lastHeardAt(): number {
  return last;
}
