import { execFileSync } from 'node:child_process';
import { render, TemplateError } from './template';

const ctx = {
  params: {
    key: 'SHOP',
    nets: ['10.0.0.0/8', '198.51.100.0/24'],
    evil: "x'; rm -rf / #",
    multi: 'a\nPermitRootLogin yes',
    n: 8,
  },
  version: '7.4.1',
};

test('files get values as they are, lists through join, and never a line break from a parameter', () => {
  expect(
    render(
      'key = {{ params.key }}\nn={{params.n}} v={{ version }}\nallow { {{ params.nets | join }} }\n',
      ctx,
      'file',
      't',
    ),
  ).toBe('key = SHOP\nn=8 v=7.4.1\nallow { 10.0.0.0/8, 198.51.100.0/24 }\n');
  expect(() => render('a\nListen {{ params.multi }}', ctx, 'file', 'templates/sshd.conf')).toThrow(
    /templates\/sshd\.conf:2: .*line break/,
  );
  expect(render('x = {{ params.multi | json }}', ctx, 'file', 't')).toBe('x = "a\\nPermitRootLogin yes"');
});

test('scripts get every value shell-quoted, so a parameter cannot run code', () => {
  const script = render('printf "%s|" {{ params.evil }} {{ params.key }}', ctx, 'shell', 't');
  expect(execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' })).toBe("x'; rm -rf / #|SHOP|");
  expect(render('echo {{ params.key | raw }}', ctx, 'shell', 't')).toBe('echo SHOP');
});

test('unknown names, unknown filters, lists without join and malformed tags are errors with the line', () => {
  const err = (t: string) => {
    try {
      render(t, ctx, 'file', 'f');
      return 'no error';
    } catch (e) {
      expect(e).toBeInstanceOf(TemplateError);
      return (e as Error).message;
    }
  };
  expect(err('a\n{{ params.nope }}')).toMatch(/^f:2: .*no value named `params.nope`/);
  expect(err('{{ params.key | upper }}')).toMatch(/unknown filter `upper`/);
  expect(err('{{ params.nets }}')).toMatch(/is a list: use `\| join` or `\| json`/);
  expect(err('x\ny\n{{ params.key ]}')).toMatch(/^f:3: `\{\{` starts no well-formed/);
  expect(() => render('{{ version }}', {}, 'file', 'f')).toThrow(
    /the system names no version: list the role as name@version/,
  );
});
