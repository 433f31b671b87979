import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TransientError, UserError } from './contract';
import { codeOf, exitCodeFor, exitCodeForRun, OUTCOME_CODES, PARTIAL_EXIT } from './outcome';
import { InvalidLoginError } from '../providers/vsphere/soap/faults';
import { IdoitAuthError } from '../providers/idoit/errors';

describe('outcome codes', () => {
  it('errors carry their code; unknown errors are `failed`, transient ones `unreachable`', () => {
    expect(codeOf(new UserError('x', 'collides'))).toBe('collides');
    expect(codeOf(new UserError('x'))).toBe('failed');
    expect(codeOf(new TransientError('timeout'))).toBe('unreachable');
    expect(codeOf(new Error('boom'))).toBe('failed');
    expect(codeOf(new InvalidLoginError('InvalidLogin', 'vCenter refused the login'))).toBe('unauthorized');
    expect(codeOf(new IdoitAuthError('https://cmdb/src/jsonrpc.php', 'bad key.'))).toBe('unauthorized');
  });

  it('exit codes: 0 converged, 3 only blocked, 4 credentials, 5 unreachable, 1 anything failed', () => {
    expect(exitCodeFor([])).toBe(0);
    expect(exitCodeFor(['protected', 'not-owned'])).toBe(3);
    expect(exitCodeFor(['protected', 'unauthorized'])).toBe(4);
    expect(exitCodeFor(['unreachable', 'collides'])).toBe(5);
    expect(exitCodeFor(['unreachable', 'failed'])).toBe(1);
  });

  it('a run that got to its systems: 6 when some failed and others did not; else the most severe code', () => {
    const ok = { status: 'ok' };
    const same = { status: 'unchanged' };
    const failed = (code: 'failed' | 'unreachable' | 'stale') => ({ status: 'failed', error: { code } });
    const blocked = { status: 'blocked', error: { code: 'protected' as const } };
    expect(exitCodeForRun([ok, same])).toBe(0);
    expect(exitCodeForRun([ok, failed('unreachable')])).toBe(PARTIAL_EXIT);
    expect(exitCodeForRun([same, failed('stale')])).toBe(6);
    expect(exitCodeForRun([blocked, failed('failed')])).toBe(6);
    expect(exitCodeForRun([failed('unreachable'), failed('unreachable')])).toBe(5); // nothing converged
    expect(exitCodeForRun([failed('stale')])).toBe(1);
    expect(exitCodeForRun([ok, blocked])).toBe(3);
  });

  it('every code has a documented meaning in the README', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    for (const code of Object.keys(OUTCOME_CODES)) expect(readme).toContain(`| \`${code}\` |`);
    expect(readme).toMatch(/\*\*6 some\s+systems failed while the others converged/);
  });
});
