/**
 * vcsim for the lab and the tests: the harness binary (tools/vcsim, built by scripts/build-vcsim.sh),
 * its arguments for the lab's model, the `-env` file it writes once listening, and the OS templates
 * the site names (vcsim's model VMs renamed, powered off and marked as templates: the clone source
 * looks like a real template and no extra inventory appears).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TlsOptions } from '../manifest/site';
import { VimClient } from '../providers/vsphere/client';
import { retrieveView, runTask } from '../providers/vsphere/inventory';
import { ref, text } from '../providers/vsphere/soap/xml';
import { LabError } from './process';

/** The repo root: the nearest folder up with a package.json (works from src/ and from dist/src/). */
export const PACKAGE_ROOT = ((): string => {
  let d = __dirname;
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
})();

/** The harness binary; built (about 30 s the first time) when missing or older than main.go. */
export function vcsimBinary(): string {
  try {
    return execFileSync(join(PACKAGE_ROOT, 'scripts', 'build-vcsim.sh'), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .trim()
      .split('\n')
      .pop()!;
  } catch (e) {
    throw new LabError(
      `cannot build the vcsim harness (scripts/build-vcsim.sh): ${(e as { stderr?: string }).stderr ?? e}. Install golang-go and golang-github-vmware-govmomi-dev.`,
    );
  }
}

/** Plain vcsim, or vcsim behind the vCenter-like handler (tools/vcsim/README.md). */
export type SimulatorMode = 'vcsim' | 'vcenter-like';

/**
 * One datacenter DC0 with one cluster DC0_C0 of one host, no standalone host, `vms` model VMs (the
 * templates' raw material); in vCenter-like mode every task runs `taskMs` before it does its work.
 */
export function vcsimArgs(
  listen: string,
  envFile: string,
  vms: number,
  mode: SimulatorMode = 'vcsim',
  taskMs = 300,
): string[] {
  const base = [
    '-l',
    listen,
    '-tls',
    '-env',
    envFile,
    '-standalone-host',
    '0',
    '-cluster',
    '1',
    '-host',
    '1',
    '-vm',
    String(vms),
  ];
  return mode === 'vcenter-like' ? [...base, '-vcenter', '-task-ms', String(taskMs)] : base;
}

/** GOVC_URL, VCSIM_PID, VCSIM_CA_FILE from the `-env` file; undefined until vcsim wrote it completely. */
export function readVcsimEnv(envFile: string): Record<string, string> | undefined {
  if (!existsSync(envFile)) return undefined;
  const body = readFileSync(envFile, 'utf8');
  if (!body.includes('VCSIM_CA_FILE=')) return undefined;
  return Object.fromEntries(
    body
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
}

export interface VcsimLogin {
  url: string;
  username: string;
  password: string;
  tls: TlsOptions;
}

/** Turns the first model VMs (by name) into templates named `names`: rename, power off, MarkAsTemplate. Names already present are kept. */
export async function makeTemplates(login: VcsimLogin, names: string[]): Promise<void> {
  const c = new VimClient(login);
  try {
    const sc = await c.serviceContent();
    const vms = (
      await retrieveView(c, sc.rootFolder, [{ type: 'VirtualMachine', paths: ['name', 'runtime.powerState'] }])
    ).sort((a, b) => a.props.get('name')!.text.localeCompare(b.props.get('name')!.text));
    const existing = new Set(vms.map((v) => v.props.get('name')!.text));
    const todo = names.filter((n) => !existing.has(n));
    const raw = vms.filter((v) => !names.includes(v.props.get('name')!.text));
    if (raw.length < todo.length)
      throw new LabError(
        `vcsim has ${raw.length} model VMs left, ${todo.length} templates needed: start it with more -vm`,
      );
    for (const [i, name] of todo.entries()) {
      const vm = raw[i]!;
      const o = { timeoutMs: 30_000, what: `template ${name}` };
      if (vm.props.get('runtime.powerState')?.text === 'poweredOn')
        await runTask(c, 'PowerOffVM_Task', ref('_this', vm.obj), o);
      await runTask(c, 'Rename_Task', ref('_this', vm.obj) + text('newName', name), o);
      await c.call('MarkAsTemplate', ref('_this', vm.obj));
    }
  } finally {
    await c.logout();
  }
}
