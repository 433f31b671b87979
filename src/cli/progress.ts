/** Progress lines while apply runs, so an operator sees what is happening during a long run. */
import type { ApplyEvent } from '../engine/apply';

export function progressPrinter(write: (line: string) => void, total: number): (e: ApplyEvent) => void {
  let finished = 0;
  return (e) => {
    const secs = e.ms !== undefined ? ` (${(e.ms / 1000).toFixed(1)}s)` : '';
    if (e.type === 'start') write(`  … ${e.kind.padEnd(10)} ${e.action.padEnd(7)} ${e.system}`);
    else if (e.type === 'done')
      write(`  ✓ ${e.kind.padEnd(10)} ${e.action.padEnd(7)} ${e.system}${secs} [${++finished}/${total}]`);
    else if (e.type === 'failed')
      write(`  ✗ ${e.kind.padEnd(10)} ${e.action.padEnd(7)} ${e.system}${secs}: ${e.error}`);
    else if (e.type === 'retry')
      write(`  ↻ ${e.kind.padEnd(10)} ${e.action.padEnd(7)} ${e.system}: ${e.error}, retrying`);
    else if (e.type === 'progress')
      write(`  ⋯ ${e.kind.padEnd(10)} ${e.action.padEnd(7)} ${e.system}: ${e.detail ?? ''}`);
    else if (e.type === 'warn') write(`  ! ${e.kind.padEnd(10)} ${e.system}: ${e.error}`);
    else if (e.type === 'commit') write(`  ✓ ${e.kind.padEnd(10)} deployed once for this run${secs}`);
  };
}
