/**
 * Runs a command in a real pseudo-terminal (python3's pty module), as a person at a terminal would:
 * waits for `prompt` in what it prints, types `answer` and Enter, and returns everything it printed.
 */
import { execFile } from 'node:child_process';

const PY = `
import os, pty, sys, time
prompt, answer, argv = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out, sent, deadline = b'', False, time.time() + 200
while time.time() < deadline:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not sent and prompt in out:
        os.write(fd, answer + b'\\r')
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
`;

export function inPty(
  argv: string[],
  prompt: string,
  answer: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(
      'python3',
      ['-c', PY, prompt, answer, ...argv],
      { env, timeout: 240_000, maxBuffer: 64 << 20 },
      (e, stdout) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out: String(stdout) }),
    ),
  );
}
