/**
 * A role's steps (and the record write that follows them) as ONE remote command: a script fed to
 * `/bin/sh -s`, each step in its own shell under `timeout`, uploads embedded as here-docs, and every
 * step's start and exit code framed by a random marker on stdout and stderr. One round trip per role
 * instead of one per step, with the same per-step attribution: which step failed, its exit code and
 * its own stderr. The script stops at the first failing step.
 *
 * Processes per step on the target: `timeout` and the step's `/bin/sh -c`, nothing else of ours.
 * Both are needed: timeout(1) runs the step in a process group of its own and signals the whole group
 * when the step's time is up (a hung apt-get or dpkg below the step's shell included); a POSIX sh
 * without a terminal has no job control, so a subshell with a watchdog could only kill the subshell
 * and leave its children holding the session open. timeout execs a program, so the step's shell is
 * `sh -c`. An upload that is text (UTF-8, no NUL, ends with a newline) goes in as a quoted here-doc
 * as it is; other bytes (a .deb) through `base64 -d`, one process more.
 */
import { randomBytes } from 'node:crypto';
import { shq } from '../../transport/ssh';

export interface BatchStep {
  key: string;
  command: string;
  stdin?: Buffer;
  timeoutMs: number;
}

export interface StepResult {
  key: string;
  /** null: the step started but its end was never seen (connection lost, whole command timed out). */
  code: number | null;
  stdout: string;
  stderr: string;
}

export function batchScript(steps: BatchStep[]): { script: string; marker: string; timeoutMs: number } {
  const marker = `@@shipshape-${randomBytes(8).toString('hex')}`;
  const eof = `SHIPSHAPE_EOF_${randomBytes(8).toString('hex')}`;
  const lines = [`M=${marker}`];
  for (const s of steps) {
    const secs = Math.max(1, Math.ceil(s.timeoutMs / 1000));
    const run = `timeout -k 5 ${secs} /bin/sh -c ${shq(s.command)}`;
    lines.push(`printf '\\n%s start %s\\n' "$M" ${shq(s.key)}; printf '\\n%s start %s\\n' "$M" ${shq(s.key)} >&2`);
    const text = s.stdin && hereDocText(s.stdin, eof);
    if (text !== undefined) {
      // The here-doc's body is every line up to the delimiter, each with its newline: the text as it is.
      lines.push(`${run} <<'${eof}'; rc=$?`, text.slice(0, -1), eof);
    } else if (s.stdin) {
      lines.push(`base64 -d <<'${eof}' | ${run}; rc=$?`, ...(s.stdin.toString('base64').match(/.{1,76}/g) ?? []), eof);
    } else {
      lines.push(`${run} </dev/null; rc=$?`);
    }
    lines.push(
      `printf '\\n%s end %s %s\\n' "$M" ${shq(s.key)} "$rc"; printf '\\n%s end %s %s\\n' "$M" ${shq(s.key)} "$rc" >&2`,
      '[ "$rc" -eq 0 ] || exit 0',
    );
  }
  const timeoutMs = steps.reduce((t, s) => t + s.timeoutMs + 5_000, 30_000);
  return { script: lines.join('\n') + '\n', marker, timeoutMs };
}

/**
 * The upload as text a quoted here-doc carries byte for byte, or undefined: it must survive the
 * script's UTF-8 encoding unchanged, hold no NUL (a shell drops it), end with a newline (a here-doc's
 * body always does) and have no line that is the delimiter.
 */
function hereDocText(data: Buffer, eof: string): string | undefined {
  if (data.length === 0 || data[data.length - 1] !== 0x0a || data.includes(0)) return undefined;
  const text = data.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(data)) return undefined;
  return text.split('\n').includes(eof) ? undefined : text;
}

/** Splits framed output into each step's part; a step without an end marker has code null. */
export function parseBatch(stdout: string, stderr: string, marker: string): StepResult[] {
  const split = (text: string) => {
    const parts = new Map<string, { text: string; code: number | null }>();
    for (const chunk of ('\n' + text).split(`\n${marker} `).slice(1)) {
      const nl = chunk.indexOf('\n');
      const head = (nl < 0 ? chunk : chunk.slice(0, nl)).split(' ');
      const body = nl < 0 ? '' : chunk.slice(nl + 1);
      const key = head[1]!;
      if (head[0] === 'start') parts.set(key, { text: body, code: null });
      else if (head[0] === 'end' && parts.has(key)) parts.get(key)!.code = Number(head[2]);
    }
    return parts;
  };
  const out = split(stdout);
  const err = split(stderr);
  return [...out.entries()].map(([key, o]) => ({
    key,
    code: o.code,
    stdout: o.text.replace(/\n$/, ''),
    stderr: (err.get(key)?.text ?? '').replace(/\n$/, ''),
  }));
}
