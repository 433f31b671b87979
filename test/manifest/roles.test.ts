/** `shipshape validate` on role files and the site's specialise section. */
import type { LoadResult } from '../../src/manifest';
import { SITE, cleanupRepos, lines as allLines, load } from './tmp-repo';

const lines = (r: LoadResult) => allLines(r).filter((l) => !l.includes(': warning: '));

afterAll(cleanupRepos);

const role = (steps: string, extra = '') =>
  `apiVersion: shipshape.dev/v1\nkind: Role\nmetadata: { name: app/shop }\nspec:\n  params: { type: object }\n  steps:\n${steps}${extra}`;

it('a step does exactly one thing, a file step has a source or a template, remove steps upload nothing', async () => {
  const r = await load({
    'roles/app/shop/role.yaml': role(
      '    - { script: "true", absent: /etc/x }\n    - { name: nothing }\n    - file: { path: /etc/a }\n',
      '  remove:\n    - file: { path: /etc/b, source: files/b }\n',
    ),
  });
  expect(lines(r)).toEqual([
    'roles/app/shop/role.yaml:7:7: role `app/shop` steps[0] must have exactly one of `file`, `script`, `packages`, `deb`, `service`, `absent`; it has `script` and `absent`',
    'roles/app/shop/role.yaml:8:7: role `app/shop` steps[1] must have exactly one of `file`, `script`, `packages`, `deb`, `service`, `absent`; it has none',
    'roles/app/shop/role.yaml:9:13: role `app/shop` steps[2].file needs exactly one of `source` (copied as is) or `template` (rendered)',
    'roles/app/shop/role.yaml:11:7: role `app/shop` remove[0]: remove steps may use `script`, `service`, `packages` or `absent`, not `file` or `deb` (they are kept on the target to undo the role later)',
  ]);
});

it('files a role names must exist in its folder; versioned packages are checked when a system names the version', async () => {
  const r = await load({
    'roles/app/shop/role.yaml': role(
      '    - file: { path: /etc/a, template: templates/a.conf }\n    - deb: files/shop_{{ version }}_all.deb\n    - deb: files/fixed.deb\n',
    ),
    'roles/app/shop/templates/a.conf': 'x\n',
  });
  expect(lines(r)).toEqual([
    'roles/app/shop/role.yaml:9:12: role `app/shop` names files/fixed.deb, which does not exist: add roles/app/shop/files/fixed.deb',
  ]);
});

it('a step field outside the schema, a bad mode or path is refused', async () => {
  const r = await load({
    'roles/app/shop/role.yaml': role(
      '    - file: { path: etc/a, template: templates/../x, mode: 777 }\n    - { script: "true", sudo: true }\n',
    ),
  });
  expect(r.ok).toBe(false);
  const text = lines(r).join('\n');
  expect(text).toContain('path must be an absolute file path');
  expect(text).toContain('template must be a path inside the role folder');
  expect(text).toContain('mode must be an octal mode');
  expect(text).toMatch(/sudo/);
});

it('specialise.rootPrefix is refused outside a lab', async () => {
  const site =
    SITE + '  specialise: { user: root, privateKey: "${file:secrets/key}", rootPrefix: "/tmp/lab/{system}" }\n';
  expect(lines(await load({ 'shipshape.yaml': site }))).toEqual([
    'shipshape.yaml:11:76: specialise.rootPrefix is for labs and tests only (several test hosts on one machine); a real site sets no prefix, or sets lab: true',
  ]);
  expect((await load({ 'shipshape.yaml': site.replace('spec:\n', 'spec:\n  lab: true\n') })).ok).toBe(true);
});
