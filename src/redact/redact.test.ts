import { clearSecrets, redact, redactDeep, registerSecret, splitUserinfo } from '.';

afterEach(() => clearSecrets());

it('removes URL userinfo wherever a URL appears', () => {
  expect(redact('cannot fetch https://alice:s3cr3t-token@git.example.com/infra.git: 403')).toBe(
    'cannot fetch https://[redacted]@git.example.com/infra.git: 403',
  );
  expect(redact('{"url":"ssh://git@host/x"}')).toBe('{"url":"ssh://[redacted]@host/x"}');
  expect(redact('mail me at a@b.example')).toBe('mail me at a@b.example');
});

it('removes every registered secret, also in URL-encoded and JSON-escaped form', () => {
  registerSecret('p@ss"word/1');
  expect(redact('login failed for p@ss"word/1')).toBe('login failed for [redacted]');
  expect(redact(`x=${encodeURIComponent('p@ss"word/1')}`)).toBe('x=[redacted]');
  expect(redactDeep({ e: 'p@ss"word/1' })).toEqual({ e: '[redacted]' });
});

it('ignores values too short to be secrets', () => {
  registerSecret('ab');
  expect(redact('abc')).toBe('abc');
});

it('splits credentials off a URL', () => {
  expect(splitUserinfo('https://alice:to%40ken@git.example.com/r.git')).toEqual({
    url: 'https://git.example.com/r.git',
    username: 'alice',
    password: 'to@ken',
  });
  expect(splitUserinfo('/srv/git/repo')).toEqual({ url: '/srv/git/repo' });
});
