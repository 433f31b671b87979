import { createLogger } from './log';

test('log lines are human text by default, with secrets redacted; JSON only when asked for', () => {
  const lines: string[] = [];
  const log = createLogger('info', 'text', (l) => lines.push(l));
  log.warn({ kind: 'vm', attempt: 2, password: 'hunter2', err: 'connect ECONNREFUSED 127.0.0.1:443' }, 'retrying');
  log.debug('not shown at info');
  expect(lines).toEqual(['warn: retrying kind=vm attempt=2 password=[redacted] err="connect ECONNREFUSED 127.0.0.1:443"']);
});
