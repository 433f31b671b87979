/** Hostile or broken files become one clear diagnostic at the right place; nothing throws, nothing hangs. */
import { execFileSync } from 'child_process';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadRepo } from '../../src/manifest';
import { cleanupRepos, lines, load, makeRepo, system } from './tmp-repo';

afterAll(cleanupRepos);

const OK = system('web-01', 'profile: base');

describe('guard rails', () => {
  it('stops an alias bomb at the first alias, without expanding it', async () => {
    const bomb = [
      'apiVersion: shipshape.dev/v1',
      'kind: System',
      'metadata: { name: bomb }',
      'spec:',
      '  profile: base',
      '  roles:',
      '    - name: app/shop',
      '      params:',
      '        a: &a [x, x, x, x, x, x, x, x, x]',
      '        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      '        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      '        d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      '',
    ].join('\n');
    const r = await load({ 'systems/bomb.yaml': bomb });
    expect(lines(r)).toEqual([
      'systems/bomb.yaml:10:16: too many alias expansions (more than 20): write the values out instead of nesting aliases',
    ]);
    expect(r.ok).toBe(false);
  });

  it('allows a few aliases', async () => {
    const r = await load({ 'systems/web-01.yaml': system('web-01', 'profile: base', 'dns: &d { aliases: [shop] }') });
    expect(lines(r)).toEqual([]);
  });

  it('refuses a binary file, at the NUL byte', async () => {
    const r = await load({
      'systems/web-01.yaml': Buffer.from('apiVersion: shipshape.dev/v1\nkind: Sys\u0000tem\n', 'latin1'),
    });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:2:10: systems/web-01.yaml is a binary file (NUL byte), not YAML text',
    ]);
  });

  it('refuses text that is not UTF-8', async () => {
    const latin1 = Buffer.concat([
      Buffer.from('apiVersion: shipshape.dev/v1\nkind: System\n# Gr'),
      Buffer.from([0xfc]),
      Buffer.from('n\n'),
    ]);
    const r = await load({ 'systems/web-01.yaml': latin1 });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:3:5: systems/web-01.yaml is not valid UTF-8 text: save it as UTF-8',
    ]);
  });

  it('refuses a file over 1 MiB without parsing it', async () => {
    const huge = OK + `# ${'x'.repeat(1024 * 1024)}\n`;
    const r = await load({ 'systems/web-01.yaml': huge });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:1:1: systems/web-01.yaml is 1.0 MiB, larger than the 1 MiB limit for a manifest file',
    ]);
  });

  it('reports a duplicate key at the second occurrence', async () => {
    const r = await load({
      'systems/web-01.yaml': system('web-01', 'profile: base', 'cpu: 2', 'memoryMiB: 4096', 'cpu: 4'),
    });
    expect(lines(r)).toEqual(['systems/web-01.yaml:9:3: duplicate key `cpu`: a key may appear only once in a map']);
  });

  it('reports a YAML syntax error with its position', async () => {
    const r = await load({ 'systems/web-01.yaml': system('web-01', 'profile: base', 'cpu: a: b') });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:7:8: YAML syntax error: Nested mappings are not allowed in compact mappings',
    ]);
  });

  it('reports absurdly deep nesting instead of overflowing the stack', async () => {
    const deep = system(
      'web-01',
      'profile: base',
      `roles: [{ name: app/shop, params: { x: ${'['.repeat(5000)}${']'.repeat(5000)} } }]`,
    );
    const r = await load({ 'systems/web-01.yaml': deep });
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({
      file: 'systems/web-01.yaml',
      line: 7,
      message: 'YAML is nested too deeply here for the parser: a manifest needs only a few levels',
    });
  });

  it('refuses several documents in one file, at the second one', async () => {
    const r = await load({ 'systems/web-01.yaml': `${OK}---\n${OK}` });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:7:1: systems/web-01.yaml holds 2 YAML documents: put exactly one manifest in each file',
    ]);
  });

  it('reports an empty file', async () => {
    const r = await load({ 'systems/web-01.yaml': '# nothing yet\n' });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:1:1: systems/web-01.yaml is empty: expected one manifest (apiVersion, kind, metadata, spec)',
    ]);
  });

  it('refuses a local tag with one error and no extra warning', async () => {
    const r = await load({ 'systems/web-01.yaml': system('web-01', 'profile: base', 'os: !vault debian12') });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:7:7: YAML tag `!vault` is not allowed in manifests: write a plain value',
    ]);
  });

  it('refuses custom YAML tags', async () => {
    const r = await load({ 'systems/web-01.yaml': system('web-01', 'profile: base', 'os: !!binary ZGViaWFuMTI=') });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:7:7: YAML tag `tag:yaml.org,2002:binary` is not allowed in manifests: write a plain value',
    ]);
  });

  it('refuses a symlink to a file outside the repo', async () => {
    const outside = path.join(os.tmpdir(), `shipshape-outside-${process.pid}.yaml`);
    await fs.writeFile(outside, OK);
    try {
      const root = await makeRepo({});
      await fs.mkdir(path.join(root, 'systems'));
      await fs.symlink(outside, path.join(root, 'systems', 'web-01.yaml'));
      const r = await loadRepo(root);
      expect(lines(r)).toEqual([
        `systems/web-01.yaml:1:1: systems/web-01.yaml is a symlink to ${await fs.realpath(outside)}, outside the repo: refusing to read it (copy the file into the repo instead)`,
      ]);
    } finally {
      await fs.rm(outside, { force: true });
    }
  });

  it('refuses a shipshape.yaml that links outside the repo', async () => {
    const outside = path.join(os.tmpdir(), `shipshape-outside-site-${process.pid}.yaml`);
    await fs.writeFile(
      outside,
      'apiVersion: shipshape.dev/v1\nkind: Site\nspec: { nets: { n: { cidr: 198.51.100.0/24 } } }\n',
    );
    try {
      const root = await makeRepo({ 'shipshape.yaml': null, 'systems/web-01.yaml': system('web-01', 'state: absent') });
      await fs.symlink(outside, path.join(root, 'shipshape.yaml'));
      const r = await loadRepo(root);
      expect(lines(r)).toEqual([
        `shipshape.yaml:1:1: shipshape.yaml is a symlink to ${await fs.realpath(outside)}, outside the repo: refusing to read it (copy the file into the repo instead)`,
      ]);
      expect(r.site).toBeUndefined();
    } finally {
      await fs.rm(outside, { force: true });
    }
  });

  it('refuses a symlinked directory outside the repo and follows one inside it', async () => {
    const root = await makeRepo({ 'systems/web-01.yaml': OK, 'shared/web-02.yaml': system('web-02', 'profile: base') });
    await fs.symlink(os.tmpdir(), path.join(root, 'systems', 'tmp'));
    await fs.symlink(path.join(root, 'shared'), path.join(root, 'systems', 'shared'));
    const r = await loadRepo(root);
    expect(lines(r)).toEqual([
      `systems/tmp:1:1: systems/tmp is a symlink to ${await fs.realpath(os.tmpdir())}, outside the repo: refusing to read it (copy the file into the repo instead)`,
    ]);
    expect(r.systems.map((s) => s.name)).toEqual(['web-01', 'web-02']);
  });

  it('reports a broken symlink as unreadable', async () => {
    const root = await makeRepo({ 'systems/web-01.yaml': OK });
    await fs.symlink(path.join(root, 'nowhere.yaml'), path.join(root, 'systems', 'web-02.yaml'));
    const r = await loadRepo(root);
    expect(lines(r)).toEqual(['systems/web-02.yaml:1:1: cannot read systems/web-02.yaml: it is a broken symlink']);
  });

  it('does not hang on a FIFO named like a manifest', async () => {
    const root = await makeRepo({ 'systems/web-01.yaml': OK });
    execFileSync('mkfifo', [path.join(root, 'systems', 'web-02.yaml')]);
    const r = await loadRepo(root);
    expect(lines(r)).toEqual([
      'systems/web-02.yaml:1:1: systems/web-02.yaml is not a regular file: a manifest must be a plain YAML file',
    ]);
  });

  it('reports a missing systems/ directory as a warning, not an error', async () => {
    const r = await load({});
    expect(lines(r)).toEqual([
      'systems/:1:1: warning: no systems/ directory: the repo declares no systems (nothing will be created; nothing is deleted without a tombstone)',
    ]);
    expect(r.ok).toBe(true);
    expect(r.systems).toEqual([]);
  });

  it('reports an empty systems/ directory as a warning', async () => {
    const root = await makeRepo({});
    await fs.mkdir(path.join(root, 'systems'));
    const r = await loadRepo(root);
    expect(lines(r)).toEqual([
      'systems/:1:1: warning: systems/ holds no manifests: the repo declares no systems (nothing is deleted without a tombstone)',
    ]);
    expect(r.ok).toBe(true);
  });

  it('reports a missing shipshape.yaml and a missing repo directory', async () => {
    const r = await load({ 'shipshape.yaml': null, 'systems/web-01.yaml': OK });
    expect(lines(r)).toEqual([
      'shipshape.yaml:1:1: no shipshape.yaml at the repo root: every repo needs its site config',
    ]);
    const gone = await loadRepo(path.join(os.tmpdir(), 'shipshape-does-not-exist', 'repo'));
    expect(gone.ok).toBe(false);
    expect(gone.diagnostics[0].message).toMatch(/^repo directory .* does not exist$/);
  });

  it('a file name with a newline cannot forge a diagnostic line', async () => {
    const r = await load({ 'systems/web-01.yaml': OK, 'systems/x\nshipshape.yaml:1:1: error: forged': OK });
    expect(r.diagnostics.map((d) => d.file)).toEqual(['systems/x\\nshipshape.yaml:1:1: error: forged']);
    expect(r.diagnostics[0].message).not.toContain('\n');
  });

  it('warns about files it ignores in systems/', async () => {
    const r = await load({ 'systems/web-01.yaml': OK, 'systems/web-02.yaml.bak': OK });
    expect(lines(r)).toEqual([
      'systems/web-02.yaml.bak:1:1: warning: systems/web-02.yaml.bak is ignored: only .yaml and .yml files are loaded here',
    ]);
  });
});
