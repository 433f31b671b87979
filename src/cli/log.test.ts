import { createLogger } from './log';

/** What the logger writes to stderr while `fn` runs (text lines; JSON lines go through fd 2 directly). */
function stderrOf(fn: () => void): string {
  const chunks: string[] = [];
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
    chunks.push(String(c));
    return true;
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return chunks.join('');
}

describe('createLogger', () => {
  it('writes entries at or above the level as human lines, redacted, and drops the ones below', () => {
    const out = stderrOf(() => {
      const log = createLogger('warn');
      log.debug('not shown');
      log.info({ system: 'web-01' }, 'not shown either');
      log.warn({ system: 'web-01', password: 'hunter2' }, 'slow answer from %s');
      log.error('gave up');
    });
    expect(out).toBe('warning: slow answer from %s (system=web-01, password=[redacted])\nerror: gave up\n');
  });

  it('writes nothing at level silent', () => {
    expect(stderrOf(() => createLogger('silent').error('nothing'))).toBe('');
  });

  it('refuses a level pino does not know when it is made, with pino’s message', () => {
    expect(() => createLogger('verbose')).toThrow('default level:verbose must be included in custom levels');
  });
});
