import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleGit } from 'simple-git';
import { recordApplied, syncRepo } from './git';

async function upstream() {
  const base = mkdtempSync(join(tmpdir(), 'shipshape-git-'));
  const work = join(base, 'work');
  const git = simpleGit();
  await git.init([work, '--initial-branch=main']);
  const w = simpleGit(work).addConfig('user.email', 'ci@example.com').addConfig('user.name', 'CI');
  const commit = async (file: string, text: string) => {
    writeFileSync(join(work, file), text);
    await w.add(file);
    await w.commit(`edit ${file}`);
    return (await w.revparse(['HEAD'])).trim();
  };
  const first = await commit('a.yaml', 'one\n');
  return {
    base,
    work,
    w,
    commit,
    first,
    src: { url: work, ref: 'main', cacheDir: join(base, 'cache'), stateDir: join(base, 'state') },
  };
}

describe('git source', () => {
  it('clones, then fetches new commits on the next run', async () => {
    const u = await upstream();
    const r1 = await syncRepo(u.src);
    expect(r1.commit).toBe(u.first);
    expect(readFileSync(join(r1.dir, 'a.yaml'), 'utf8')).toBe('one\n');
    const second = await u.commit('a.yaml', 'two\n');
    const r2 = await syncRepo(u.src);
    expect(r2).toMatchObject({ dir: r1.dir, commit: second });
    expect(readFileSync(join(r2.dir, 'a.yaml'), 'utf8')).toBe('two\n');
  });

  it('refuses a ref that moved backwards from the commit last applied', async () => {
    const u = await upstream();
    const second = await u.commit('a.yaml', 'two\n');
    await syncRepo(u.src);
    recordApplied(u.src, second);
    await u.w.reset(['--hard', u.first]); // a force-push back in time
    await expect(syncRepo(u.src)).rejects.toThrow(
      /moved backwards: .* does not descend from .*the commit last applied.*Nothing was changed/,
    );
  });

  it('accepts a fast-forward after an applied commit', async () => {
    const u = await upstream();
    await syncRepo(u.src);
    recordApplied(u.src, u.first);
    const next = await u.commit('b.yaml', 'x\n');
    expect((await syncRepo(u.src)).commit).toBe(next);
  });

  it('gives a clear error when the fetch fails or the ref does not exist', async () => {
    const u = await upstream();
    await expect(syncRepo({ ...u.src, url: join(u.base, 'no-such-repo') })).rejects.toThrow(
      /cannot fetch .*no-such-repo: fatal: .*no-such-repo.*does not (exist|appear to be a git repository).*; nothing was changed/,
    );
    await expect(syncRepo({ ...u.src, ref: 'no-such-branch' })).rejects.toThrow(/ref "no-such-branch" does not exist/);
  });
});
