/**
 * Git as the source of truth (simple-git): clone the manifests repo into a cache folder, fetch on
 * every run, check out the ref's commit exactly. A fetch that fails or a ref that moved backwards
 * (history rewritten, or an older commit than the one last applied) is a loud error: a reconciler
 * must never roll the world back because someone force-pushed.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { UserError } from '../engine/contract';
import { readJsonFile, writeJsonFile } from '../cli/io';

export interface GitSource {
  url: string;
  ref: string;
  cacheDir: string;
  stateDir: string;
}

export interface SyncedRepo {
  dir: string;
  commit: string;
  /** The commit last applied from this url and ref, when there was one. */
  lastApplied?: string;
}

const APPLIED = 'applied-commits.json';

function key(src: Pick<GitSource, 'url' | 'ref'>): string {
  return `${src.url}#${src.ref}`;
}

/** Clone or fetch, then check out the ref's commit in a clean work tree. */
export async function syncRepo(src: GitSource): Promise<SyncedRepo> {
  const dir = join(src.cacheDir, createHash('sha256').update(src.url).digest('hex').slice(0, 16));
  mkdirSync(src.cacheDir, { recursive: true });
  let git: SimpleGit;
  try {
    if (!existsSync(join(dir, '.git'))) {
      await simpleGit().clone(src.url, dir, ['--no-checkout']);
    }
    git = simpleGit(dir);
    await git.fetch(['origin', '--prune', '--tags', '--force']);
  } catch (e) {
    throw new UserError(`cannot fetch ${src.url}: ${gitError(e)}; nothing was changed`);
  }
  let commit: string;
  try {
    commit = (await git.revparse([`${await remoteRef(git, src.ref)}^{commit}`])).trim();
  } catch {
    throw new UserError(`ref "${src.ref}" does not exist in ${src.url}; name a branch, tag or commit`);
  }
  await git.raw(['checkout', '--force', '--detach', commit]);
  await git.raw(['clean', '-ffdx', '--quiet']);

  const lastApplied = readJsonFile<Record<string, string>>(join(src.stateDir, APPLIED), {})[key(src)];
  if (lastApplied && lastApplied !== commit) {
    // simple-git resolves on a non-zero exit without stderr, so these yes/no questions go to git directly.
    const forward = (await gitSucceeds(dir, ['cat-file', '-e', `${lastApplied}^{commit}`])) && (await gitSucceeds(dir, ['merge-base', '--is-ancestor', lastApplied, commit]));
    if (!forward) {
      throw new UserError(
        `${src.ref} of ${src.url} moved backwards: ${commit.slice(0, 12)} does not descend from ${lastApplied.slice(0, 12)}, the commit last applied. ` +
          'Was history rewritten? Nothing was changed. If this is intended, remove the entry from ' +
          join(src.stateDir, APPLIED),
      );
    }
  }
  return { dir, commit, ...(lastApplied ? { lastApplied } : {}) };
}

/** Records the commit an apply brought the world to, so a later run can tell a rewind. */
export function recordApplied(src: Pick<GitSource, 'url' | 'ref' | 'stateDir'>, commit: string): void {
  const file = join(src.stateDir, APPLIED);
  const all = readJsonFile<Record<string, string>>(file, {});
  all[key(src)] = commit;
  writeJsonFile(file, all);
}

async function remoteRef(git: SimpleGit, ref: string): Promise<string> {
  const branches = await git.raw(['branch', '-r', '--list', `origin/${ref}`]);
  return branches.trim() ? `origin/${ref}` : ref;
}

function gitSucceeds(dir: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => execFile('git', args, { cwd: dir, timeout: 30_000 }, (err) => resolve(!err)));
}

/** Git's own complaint from a failed clone or fetch: its `fatal:`/`error:` lines, not the `Cloning into '…'...` progress line. */
export function gitError(e: unknown): string {
  const lines = (e instanceof Error ? e.message : String(e)).split('\n').map((l) => l.trim()).filter(Boolean);
  const said = lines.filter((l) => /^(fatal|error|remote):/i.test(l));
  if (said.length) return said.join('; ');
  return lines.filter((l) => !/^Cloning into /.test(l)).pop() ?? 'unknown error';
}

/** The commit a ref points at in a remote, without fetching (cheap enough to poll). */
export function remoteHead(url: string, ref: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('git', ['ls-remote', '--', url, ref], { timeout: 30_000 }, (err, stdout) => {
      if (err) return reject(new UserError(`cannot reach ${url}: ${err.message.split('\n')[0]}`));
      const line = stdout.split('\n').find((l) => l.endsWith(`refs/heads/${ref}`) || l.endsWith(`refs/tags/${ref}`) || l.endsWith(`\t${ref}`));
      if (!line) return reject(new UserError(`ref "${ref}" does not exist in ${url}`));
      resolve(line.split('\t')[0]!);
    }),
  );
}
