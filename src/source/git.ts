/**
 * Git as the source of truth (simple-git): clone the manifests repo into a cache folder, fetch on
 * every run, check out the ref's commit exactly. A fetch that fails or a ref that moved backwards
 * (history rewritten, or an older commit than the one last applied) is a loud error: a reconciler
 * must never roll the world back because someone force-pushed.
 *
 * Credentials in the URL (`https://user:token@host/…`) never reach git's config, a process list or
 * an output: git gets the URL without them and asks for them through GIT_ASKPASS (a script in the
 * state dir that prints two environment variables only git's own process receives); system
 * credential helpers are switched off so none of them stores the token. Errors and the state
 * files name the URL without credentials.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { UserError } from '../engine/contract';
import { readJsonFile, writeJsonFile } from '../cli/io';
import { registerSecret, splitUserinfo } from '../redact';

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
  return `${splitUserinfo(src.url).url}#${src.ref}`;
}

const ASKPASS =
  '#!/bin/sh\n# git asks "Username for …" or "Password for …"; shipshape hands both in its own environment.\ncase "$1" in\n  Username*) printf \'%s\\n\' "$SHIPSHAPE_GIT_USERNAME" ;;\n  *) printf \'%s\\n\' "$SHIPSHAPE_GIT_PASSWORD" ;;\nesac\n';

/** The URL git is given, and the environment and config that hand it the credentials instead. */
export function gitAccess(url: string, stateDir: string): { url: string; env: NodeJS.ProcessEnv } {
  const split = splitUserinfo(url);
  // No helper may store or offer credentials (an empty credential.helper resets the list; set through
  // git's GIT_CONFIG_* environment, git >= 2.31); GIT_TERMINAL_PROMPT=0 makes a missing one an error, not a hang.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'credential.helper',
    GIT_CONFIG_VALUE_0: '',
  };
  if (split.username === undefined && split.password === undefined) return { url: split.url, env };
  registerSecret(split.password);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const script = join(stateDir, 'git-askpass');
  writeFileSync(script, ASKPASS, { mode: 0o700 });
  chmodSync(script, 0o700);
  return {
    url: split.url,
    env: {
      ...env,
      GIT_ASKPASS: script,
      SHIPSHAPE_GIT_USERNAME: split.username ?? '',
      SHIPSHAPE_GIT_PASSWORD: split.password ?? '',
    },
  };
}

/** Clone or fetch, then check out the ref's commit in a clean work tree. */
export async function syncRepo(src: GitSource): Promise<SyncedRepo> {
  const access = gitAccess(src.url, src.stateDir);
  const shown = access.url;
  const dir = join(src.cacheDir, createHash('sha256').update(access.url).digest('hex').slice(0, 16));
  mkdirSync(src.cacheDir, { recursive: true, mode: 0o700 });
  let git: SimpleGit;
  try {
    // The commands that talk to the remote run git directly: simple-git (rightly, for untrusted input)
    // refuses an environment that sets an askpass program or git config.
    if (!existsSync(join(dir, '.git')))
      await gitRemote(['clone', '--no-checkout', '--', access.url, dir], process.cwd(), access.env);
    git = simpleGit(dir);
    // A clone made before credentials left the URL may still hold them in .git/config: always reset it.
    await git.remote(['set-url', 'origin', access.url]);
    await gitRemote(['fetch', 'origin', '--prune', '--tags', '--force'], dir, access.env);
  } catch (e) {
    throw new UserError(`cannot fetch ${shown}: ${gitError(e)}; nothing was changed`);
  }
  let commit: string;
  try {
    commit = (await git.revparse([`${await remoteRef(git, src.ref)}^{commit}`])).trim();
  } catch {
    throw new UserError(`ref "${src.ref}" does not exist in ${shown}; name a branch, tag or commit`);
  }
  await git.raw(['checkout', '--force', '--detach', commit]);
  await git.raw(['clean', '-ffdx', '--quiet']);

  const lastApplied = readJsonFile<Record<string, string>>(join(src.stateDir, APPLIED), {})[key(src)];
  if (lastApplied && lastApplied !== commit) {
    // simple-git resolves on a non-zero exit without stderr, so these yes/no questions go to git directly.
    const forward =
      (await gitSucceeds(dir, ['cat-file', '-e', `${lastApplied}^{commit}`])) &&
      (await gitSucceeds(dir, ['merge-base', '--is-ancestor', lastApplied, commit]));
    if (!forward) {
      throw new UserError(
        `${src.ref} of ${shown} moved backwards: ${commit.slice(0, 12)} does not descend from ${lastApplied.slice(0, 12)}, the commit last applied. ` +
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

function gitRemote(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('git', args, { cwd, env, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (err, _out, stderr) =>
      err ? reject(new Error(stderr.trim() || err.message)) : resolve(),
    ),
  );
}

function gitSucceeds(dir: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => execFile('git', args, { cwd: dir, timeout: 30_000 }, (err) => resolve(!err)));
}

/** Git's own complaint from a failed clone or fetch: its `fatal:`/`error:` lines, not the `Cloning into '…'...` progress line. */
export function gitError(e: unknown): string {
  const lines = (e instanceof Error ? e.message : String(e))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const said = lines.filter((l) => /^(fatal|error|remote):/i.test(l));
  if (said.length) return said.join('; ');
  return lines.filter((l) => !/^Cloning into /.test(l)).pop() ?? 'unknown error';
}

/** The commit a ref points at in a remote, without fetching (cheap enough to poll). */
export function remoteHead(rawUrl: string, ref: string, stateDir: string): Promise<string> {
  const { url, env } = gitAccess(rawUrl, stateDir);
  return new Promise((resolve, reject) =>
    execFile('git', ['ls-remote', '--', url, ref], { timeout: 30_000, env }, (err, stdout) => {
      if (err) return reject(new UserError(`cannot reach ${url}: ${err.message.split('\n')[0]}`));
      const line = stdout
        .split('\n')
        .find((l) => l.endsWith(`refs/heads/${ref}`) || l.endsWith(`refs/tags/${ref}`) || l.endsWith(`\t${ref}`));
      if (!line) return reject(new UserError(`ref "${ref}" does not exist in ${url}`));
      resolve(line.split('\t')[0]!);
    }),
  );
}
