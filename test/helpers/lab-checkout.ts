/**
 * A test's own lab of the example site, run as an operator runs it from git: the examples committed in an
 * origin repo, a deploy checkout that pulls every commit, and `shipshape lab up` in that checkout on free
 * ports, with the servers' files under the test's folder (a lab a developer left running is never touched).
 * vCenter behaves like a real one (tasks that run, paging, expiry). The lab e2e and the status-page test
 * start from it.
 *
 * The lab keeps its keys and CA under the checkout's .lab/ (shipshape.yaml names them relative to the repo),
 * so tests apply the deploy checkout rather than `--repo/--ref`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCredentials } from '../../src/lab/credentials';
import { labStateDir } from '../../src/lab/start-provisioning';
import { runCli } from './cli';
import { removeDir, tempDir } from './daemon';
import { copyLabExamples, labSiteYaml, type LabEndpoints, freeLabEndpoints } from './lab-site';

export interface LabCheckout {
  work: string;
  /** Where the DNS, DHCP and lab systems' files are ("the servers"). */
  targets: string;
  ports: LabEndpoints;
  origin: string;
  deploy: string;
  /** The state dir the lab's provisioning server keeps install records in: runs use it too. */
  state: string;
  /** What `lab up` printed. */
  upOut: string;
  /** Writes the files in the origin and commits them as the checkout's author; the deploy checkout pulls it. */
  commit(message: string, files: Record<string, string>): void;
  /** `lab down`, and the test's folder removed. */
  stop(): Promise<void>;
}

export const git = (dir: string, ...args: string[]): string =>
  execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** `author`: "Name <mail>", whom the commits are by (the status page shows it). */
export async function startLabCheckout(name: string, author: { name: string; email: string }): Promise<LabCheckout> {
  const work = tempDir(name);
  const targets = join(work, 'servers');
  const ports: LabEndpoints = await freeLabEndpoints();
  const origin = join(work, 'origin');
  const deploy = join(work, 'deploy');
  let cloned = false;
  const commit = (message: string, files: Record<string, string>) => {
    for (const [f, body] of Object.entries(files)) writeFileSync(join(origin, f), body);
    git(origin, 'add', '-A');
    git(origin, '-c', `user.name=${author.name}`, '-c', `user.email=${author.email}`, 'commit', '-qm', message);
    if (cloned) git(deploy, 'pull', '-q', '--ff-only');
  };
  mkdirSync(origin);
  copyLabExamples(origin);
  writeFileSync(join(origin, '.gitignore'), '.lab/\n');
  writeFileSync(
    join(origin, 'shipshape.yaml'),
    labSiteYaml(ports, targets, (spec) => spec.setIn(['vms', 'simulator'], 'vcenter-like')),
  );
  git(origin, 'init', '-q', '-b', 'main');
  commit('the examples', {});
  execFileSync('git', ['clone', '-q', origin, deploy]);
  cloned = true;
  const up = await runCli(['lab', 'up', '-C', deploy]);
  if (up.code !== 0) {
    await runCli(['lab', 'down', '-C', deploy]); // what did start
    removeDir(work);
    throw new Error(`lab up failed:\n${up.out}\n${up.err}`);
  }
  Object.assign(process.env, readCredentials(deploy));
  return {
    work,
    targets,
    ports,
    origin,
    deploy,
    state: labStateDir(deploy),
    upOut: up.out,
    commit,
    async stop() {
      await runCli(['lab', 'down', '-C', deploy]);
      removeDir(work);
    },
  };
}
