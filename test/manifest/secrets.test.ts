/** resolveSecret reads env or file at connect time; errors name the reference, never a value. */
import { promises as fs } from 'fs';
import * as path from 'path';
import { resolveSecret, SecretError } from '../../src/manifest';
import { cleanupRepos, makeRepo } from './tmp-repo';

afterAll(cleanupRepos);

describe('resolveSecret', () => {
  const ENV = 'SHIPSHAPE_TEST_SECRET_7f3a';
  afterEach(() => {
    delete process.env[ENV];
  });

  it('reads an environment variable', async () => {
    process.env[ENV] = 's3cr3t-value';
    await expect(resolveSecret({ ref: `\${env:${ENV}}` }, '/nonexistent')).resolves.toBe('s3cr3t-value');
  });

  it('names the missing variable and says what to do', async () => {
    const err = await resolveSecret({ ref: `\${env:${ENV}}` }, '/nonexistent').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretError);
    expect((err as Error).message).toBe(
      `secret \${env:${ENV}} is not set: export ${ENV} in the environment that runs shipshape`,
    );
  });

  it('reads a file relative to the repo root, dropping one trailing newline', async () => {
    const root = await makeRepo({ '.lab/bind/tsig.secret': 'c2VjcmV0LWtleQ==\n' });
    await expect(resolveSecret({ ref: '${file:.lab/bind/tsig.secret}' }, root)).resolves.toBe('c2VjcmV0LWtleQ==');
  });

  it('reports a missing file by its reference, and an empty one without its content', async () => {
    const root = await makeRepo({ '.lab/empty.secret': '\n' });
    const missing = await resolveSecret({ ref: '${file:.lab/ssh/id_ed25519}' }, root).catch((e: Error) => e.message);
    expect(missing).toBe(
      `secret \${file:.lab/ssh/id_ed25519} cannot be read (ENOENT): create ${path.join(root, '.lab/ssh/id_ed25519')} or fix the reference in shipshape.yaml`,
    );
    const empty = await resolveSecret({ ref: '${file:.lab/empty.secret}' }, root).catch((e: Error) => e.message);
    expect(empty).toBe(
      `secret \${file:.lab/empty.secret} is empty: ${path.join(root, '.lab/empty.secret')} holds no secret`,
    );
  });

  it('never puts the secret value into an error', async () => {
    const root = await makeRepo({});
    await fs.mkdir(path.join(root, '.lab'), { recursive: true });
    await fs.mkdir(path.join(root, '.lab', 'dir.secret'));
    const err = await resolveSecret({ ref: '${file:.lab/dir.secret}' }, root).catch((e: Error) => e.message);
    expect(err).toBe(`secret \${file:.lab/dir.secret}: ${path.join(root, '.lab/dir.secret')} is not a regular file`);
    const bad = await resolveSecret({ ref: 'hunter2' }, root).catch((e: Error) => e);
    expect(bad).toBeInstanceOf(SecretError);
    expect((bad as Error).message).toBe(
      'a secret field holds no ${env:NAME} or ${file:PATH} reference (its value is not shown)',
    );
  });
});
