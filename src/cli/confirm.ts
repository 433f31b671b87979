/**
 * Interactive apply (after `terraform apply`): on a terminal, after the plan, the power-offs and deletes
 * are summarised at the bottom and only `yes` goes on. `--yes` and a run without a terminal (CI, serve)
 * do not ask.
 */
import { createInterface } from 'node:readline';
import type { Plan, PlannedAction } from '../plan/types';

/** The lines shown right above the question: what cannot be undone by the next apply. */
export function confirmText(plan: Plan): string {
  const live = plan.actions.filter((a) => a.action !== 'noop' && !a.blocked);
  const systems = new Set(live.map((a) => a.system));
  const lines: string[] = [];
  const powerOffs = live.filter((a) => a.needsPowerOff);
  if (powerOffs.length) {
    lines.push('Power-offs (the VM is shut down for the change and started again):');
    for (const a of powerOffs)
      lines.push(
        `  ${a.system}: ${a.kind} ${a.changes
          .filter((c) => c.needsPowerOff)
          .map((c) => c.path)
          .join(', ')}`,
      );
  }
  const gone = live.filter((a) => a.action === 'delete' || a.action === 'replace');
  if (gone.length) {
    lines.push('Deletes:');
    const by = new Map<string, PlannedAction[]>();
    for (const a of gone) by.set(a.system, [...(by.get(a.system) ?? []), a]);
    for (const [system, actions] of by)
      lines.push(
        `  ${system}: ${actions
          .map((a) => (a.action === 'replace' ? `${a.kind} replaced (deleted and made again)` : deleteOf(a)))
          .join('; ')}`,
      );
  }
  lines.push(
    `Apply ${live.length} change${live.length === 1 ? '' : 's'} to ${systems.size} system${systems.size === 1 ? '' : 's'}? Only 'yes' is accepted (--yes skips this question): `,
  );
  return lines.join('\n');
}

/** `vm (the VM and its disks are DESTROYED …)`: the kind with what the reason says the delete means. */
function deleteOf(a: PlannedAction): string {
  const means = /: (.*)$/.exec(a.reason)?.[1];
  return means ? `${a.kind} (${means})` : a.kind;
}

/** Asks on the terminal (stdin) with the question on stderr, so stdout stays the command's output. */
export function askOnTerminal(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  return new Promise((resolve) => {
    let answered = false;
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
    rl.on('close', () => {
      if (!answered) resolve('');
    });
  });
}
