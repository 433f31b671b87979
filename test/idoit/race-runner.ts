/**
 * One shipshape "installation" for the race test: a separate process with its own state dir that runs
 * `shipshape apply` through the real CLI whenever the parent says go, and reports the exit code.
 */
import { main } from '../../src/cli/main';

const stateDir = process.env.RACE_STATE_DIR!;

process.on('message', (m: { repo: string; round: number } | 'stop') => {
  if (m === 'stop') {
    process.disconnect();
    return;
  }
  const err: string[] = [];
  const io = { out: () => undefined, err: (l: string) => void err.push(l), isTty: false };
  void main(['node', 'shipshape', '--state-dir', stateDir, 'apply', '-C', m.repo], io).then(
    (code) => process.send!({ round: m.round, code, err: err.join('\n') }),
    (e: unknown) => process.send!({ round: m.round, code: 99, err: String(e) }),
  );
});
process.send!('ready');
