import { clearSecrets, redact, redactableRanges, redactDeep, registerSecret, splitUserinfo } from '.';

afterEach(() => clearSecrets());

it('removes URL userinfo wherever a URL appears', () => {
  expect(redact('cannot fetch https://alice:s3cr3t-token@git.example.com/infra.git: 403')).toBe(
    'cannot fetch https://[redacted]@git.example.com/infra.git: 403',
  );
  expect(redact('{"url":"ssh://git@host/x"}')).toBe('{"url":"ssh://[redacted]@host/x"}');
  expect(redact('mail me at a@b.example')).toBe('mail me at a@b.example');
});

it('finds the URL userinfo a plain scan of the text finds, at the same places', () => {
  const scan = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;
  const texts = [
    '{"url":"https://alice:tok@vc.example/sdk","other":"HTTPS://bob@h","ssh":"git+ssh://git@h/x.git"}',
    'x_https://u:p@h 1http://u@h -ftp://u@h a.b+c-d://u@h é-http://u@h',
    'https://no-userinfo.example/a@b https://u@h://v@i http://u@h@k :///@ ://u@h a://',
    `${'ab'.repeat(40)}://u@h "sha256:${'0f'.repeat(32)}" s3://key id@bucket`,
  ];
  for (const t of texts)
    expect(redactableRanges(t)).toEqual([...t.matchAll(scan)].map((m) => [m.index, m.index + m[0].length]));
  expect(redactableRanges(texts[0]!)).toHaveLength(3);
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
