/**
 * The repo a merge-request plan runs on. Everything that decides where shipshape connects and what it
 * runs on a host (shipshape.yaml, roles/, os/ with its answer-file templates, and every other tracked
 * file such as a known_hosts) comes from the trusted base ref; only systems/ and profiles/ come from the
 * branch. A branch can therefore not point an endpoint or a secret elsewhere, nor add a role whose
 * `check:` or steps would run, before review: its changes to trusted files are listed, not used.
 *
 * Files the checkout holds but git does not track (secrets/ written by the CI job, a lab's .lab/) are
 * linked into the composed repo, so the base's references to them resolve as they would after merge.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../engine/contract';
import type { TrustedChange } from '../plan/types';

export type { TrustedChange };

/** Never taken from the checkout, even untracked: they decide where shipshape connects and what it runs. */
const TRUSTED = ['shipshape.yaml', 'roles', 'os'];

/** Folders the branch decides: the systems it declares, their profiles and environments (grouping and order only). */
export const BRANCH_FOLDERS = ['systems', 'profiles', 'environments'] as const;

export interface TrustedRepo {
  /** The composed repo: trusted files from the base, systems/ and profiles/ from the checkout. */
  dir: string;
  /** The base commit the trusted files come from. */
  baseCommit: string;
  /** What the branch changes in trusted files (not used for this plan). */
  notUsed: TrustedChange[];
  cleanup(): void;
}

function git(dir: string, args: string[], what: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('git', args, { cwd: dir, timeout: 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new UserError(`${what} in ${dir}: ${stderr.trim().split('\n')[0] || err.message}`));
      resolve(stdout);
    }),
  );
}

const isBranchPath = (rel: string) => BRANCH_FOLDERS.some((f) => rel === f || rel.startsWith(`${f}/`));

/** The branch's changes to trusted files since it left the base (committed or not), with line counts. */
export async function trustedChanges(dir: string, base: string): Promise<TrustedChange[]> {
  const mergeBase = (await git(dir, ['merge-base', base, 'HEAD'], `cannot find where HEAD left ${base}`)).trim();
  const common = ['diff', '--relative', '--no-renames', mergeBase, '--', '.'];
  const [numstat, status] = await Promise.all([
    git(dir, [...common.slice(0, 1), '--numstat', ...common.slice(1)], 'cannot compare with the base'),
    git(dir, [...common.slice(0, 1), '--name-status', ...common.slice(1)], 'cannot compare with the base'),
  ]);
  const counts = new Map<string, [string, string]>();
  for (const line of numstat.split('\n').filter(Boolean)) {
    const [a, r, ...f] = line.split('\t');
    counts.set(f.join('\t'), [a!, r!]);
  }
  const out: TrustedChange[] = [];
  for (const line of status.split('\n').filter(Boolean)) {
    const [s, ...f] = line.split('\t');
    const file = f.join('\t');
    if (isBranchPath(file)) continue;
    const change: TrustedChange = { file, status: s === 'A' ? 'added' : s === 'D' ? 'deleted' : 'modified' };
    const [a, r] = counts.get(file) ?? ['-', '-'];
    if (a !== '-') change.added = Number(a);
    if (r !== '-') change.removed = Number(r);
    out.push(change);
  }
  return out.sort((x, y) => (x.file < y.file ? -1 : 1));
}

/** Builds the composed repo in a temporary folder; the caller removes it with cleanup(). */
export async function composeTrusted(dir: string, base: string): Promise<TrustedRepo> {
  const baseCommit = (
    await git(dir, ['rev-parse', '--verify', '--quiet', `${base}^{commit}`], '').catch(() => {
      throw new UserError(
        `${base} is not a commit in ${dir}; fetch the base ref first (e.g. git fetch origin ${base.replace(/^origin\//, '')})`,
      );
    })
  ).trim();
  const prefix = (await git(dir, ['rev-parse', '--show-prefix'], 'not a git checkout')).trim();
  const work = mkdtempSync(join(tmpdir(), 'shipshape-trusted-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  try {
    const repo = join(work, 'repo');
    mkdirSync(repo);
    // The site folder as the base has it. A base without it leaves the repo empty: validation then says
    // there is no site config, and nothing is planned.
    const tree = prefix ? `${baseCommit}:${prefix.replace(/\/$/, '')}` : `${baseCommit}^{tree}`;
    const inBase = await git(dir, ['rev-parse', '--verify', '--quiet', tree], '').then(
      () => true,
      () => false,
    );
    if (inBase) {
      const tar = join(work, 'base.tar');
      // From the top of the work tree: in a sub-folder, git archive would also limit the tree to that folder's path.
      const top = (await git(dir, ['rev-parse', '--show-toplevel'], 'not a git checkout')).trim();
      await git(top, ['archive', '--format=tar', `--output=${tar}`, tree], `cannot read ${base}`);
      await run('tar', ['-xf', tar, '-C', repo], work);
    }
    for (const f of BRANCH_FOLDERS) {
      rmSync(join(repo, f), { recursive: true, force: true });
      if (existsSync(join(dir, f))) cpSync(join(dir, f), join(repo, f), { recursive: true, verbatimSymlinks: true });
    }
    // Untracked files of the checkout (secrets/, .lab/): linked, so the base's references to them resolve.
    const tracked = new Set(
      (await git(dir, ['ls-tree', '--name-only', 'HEAD'], 'cannot list HEAD')).split('\n').filter(Boolean),
    );
    for (const e of readdirSync(dir)) {
      if (e === '.git' || TRUSTED.includes(e) || tracked.has(e) || isBranchPath(e) || existsSync(join(repo, e)))
        continue;
      symlinkSync(join(dir, e), join(repo, e));
    }
    return { dir: repo, baseCommit, notUsed: await trustedChanges(dir, baseCommit), cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd, timeout: 120_000 }, (err, _o, stderr) =>
      err ? reject(new UserError(`${cmd} failed: ${stderr.trim() || err.message}`)) : resolve(),
    ),
  );
}
