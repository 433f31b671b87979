import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TransientError, UserError } from './contract';
import { codeOf, exitCodeFor, OUTCOME_CODES } from './outcome';
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

  it('every code has a documented meaning in the README', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    for (const code of Object.keys(OUTCOME_CODES)) expect(readme).toContain(`| \`${code}\` |`);
  });
});
