import { TransientError } from '../engine/contract';
import { gitError } from '../source/git';
import { describeError } from './errors';
import { humanLine } from './log';

describe('user-facing messages', () => {
  it('shows errors without their class name', () => {
    expect(describeError(new TransientError('vSphere did not answer within 30 s'), false)).toBe(
      'error: vSphere did not answer within 30 s\n(run with SHIPSHAPE_DEBUG=1 for details)',
    );
    expect(describeError(new SyntaxError('Unexpected token'), false)).not.toMatch(/SyntaxError/);
  });

  it("shows git's own error for a failed clone, not its progress line", () => {
    expect(gitError(new Error("Cloning into '/x/abc'...\nfatal: repository '/x/nope' does not exist\n"))).toBe(
      "fatal: repository '/x/nope' does not exist",
    );
    expect(gitError(new Error("Cloning into '/x/abc'...\n"))).toBe('unknown error');
  });

  it('turns a log entry into one human line', () => {
    expect(
      humanLine(
        JSON.stringify({
          level: 40,
          time: 1,
          msg: 'vsphere: RetrieveProperties failed (connection reset); retry 1 of 2 in 0.3 s',
        }),
      ),
    ).toBe('warning: vsphere: RetrieveProperties failed (connection reset); retry 1 of 2 in 0.3 s\n');
    expect(humanLine(JSON.stringify({ level: 30, msg: 'done', system: 'web-01', n: 2 }))).toBe(
      'info: done (system=web-01, n=2)\n',
    );
  });
});
