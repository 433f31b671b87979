/** Apply's progress lines: a long step's own progress (a clone task at 40 %) shows between start and done. */
import { progressPrinter } from './progress';

test('a step reports task progress as a ⋯ line naming kind, action and system', () => {
  const lines: string[] = [];
  const print = progressPrinter((l) => lines.push(l), 1);
  print({ type: 'start', system: 'web-01', kind: 'vm', action: 'create' });
  print({ type: 'progress', system: 'web-01', kind: 'vm', action: 'create', detail: 'clone task-12 running 40%' });
  print({ type: 'done', system: 'web-01', kind: 'vm', action: 'create', ms: 5200 });
  expect(lines).toEqual([
    '  … vm         create  web-01',
    '  ⋯ vm         create  web-01: clone task-12 running 40%',
    '  ✓ vm         create  web-01 (5.2s) [1/1]',
  ]);
});
