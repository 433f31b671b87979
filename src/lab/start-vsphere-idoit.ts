/** The lab's vCenter (vcsim with the site's templates) and its i-doit (the emulator with the site's layer-3 nets). */
import { labIdoit, labVsphere } from './backends';
import { chmodSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { inRepo, loopbackPort, tcpOpen, track, type LabContext } from './context';
import { LabError, startDetached, waitReady } from './process';
import { makeTemplates, PACKAGE_ROOT, readVcsimEnv, vcsimArgs, vcsimBinary } from './vcsim';

export async function startLabVcsim(c: LabContext): Promise<void> {
  const v = labVsphere(c.site);
  if (!v) return;
  const port = loopbackPort('vms.url', v.url, 443);
  if (!v.tls.caFile)
    throw new LabError(
      'vms.tls.caFile: the lab site trusts vcsim through a CA file (e.g. .lab/vcsim/ca.pem), not a thumbprint',
    );
  const username = c.creds.provide(v.username, 'vms.username', () => 'lab-admin');
  const password = c.creds.provide(v.password, 'vms.password');
  const dir = join(c.dir, 'vcsim');
  const tmp = join(dir, 'tmp');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  // vcsim writes vcsim.env (with the lab vCenter's password) as 0644: the folder keeps others out before it exists.
  chmodSync(dir, 0o700);
  const envFile = join(dir, 'vcsim.env');
  rmSync(envFile, { force: true });
  c.progress('vcsim: building the simulator if needed (first time about 30 s)');
  const bin = vcsimBinary();
  const templates = [...new Set(Object.values(v.templates))];
  const log = join(dir, 'vcsim.log');
  // The password goes by environment (VCSIM_PASSWORD), never on the command line.
  const mode = v.simulator ?? 'vcsim';
  const p = startDetached(
    bin,
    [...vcsimArgs(`127.0.0.1:${port}`, envFile, Math.max(templates.length, 1), mode), '-username', username],
    log,
    { env: { TMPDIR: tmp, VCSIM_PASSWORD: password } },
  );
  track(c, 'vcsim', p, v.url, log);
  await waitReady('vcsim', p, log, async () => readVcsimEnv(envFile) !== undefined, 60_000);
  chmodSync(envFile, 0o600);
  const caFile = inRepo(c, v.tls.caFile);
  mkdirSync(dirname(caFile), { recursive: true });
  copyFileSync(readVcsimEnv(envFile)!.VCSIM_CA_FILE!, caFile);
  await makeTemplates({ url: v.url, username, password, tls: { caFile } }, templates);
  c.progress(
    `vcsim${mode === 'vcenter-like' ? ' (vCenter-like: tasks take time, results are paged, idle sessions expire)' : ''}: ${v.url} — datacenter ${v.datacenter}, cluster ${v.cluster}, datastore ${v.datastore}, port group ${v.portgroup}, templates ${templates.join(', ')}`,
  );
}

/** The emulator's entry: compiled JS under dist/, or (tests run the sources) the .ts through a transpiling require hook. */
function emulatorCommand(): string[] {
  const ext = extname(__filename);
  const cli = join(__dirname, 'idoit', `cli${ext}`);
  return ext === '.ts' ? ['-r', join(PACKAGE_ROOT, 'test', 'helpers', 'ts-register.js'), cli] : [cli];
}

export async function startLabIdoit(c: LabContext): Promise<void> {
  const i = labIdoit(c.site);
  if (!i) return;
  const port = loopbackPort('ipam.url', i.url, 80);
  const apiKey = c.creds.provide(i.apiKey, 'ipam.apiKey');
  const user = i.username ? c.creds.provide(i.username, 'ipam.username', () => 'lab') : undefined;
  const password = i.password ? c.creds.provide(i.password, 'ipam.password') : undefined;
  const dir = join(c.dir, 'idoit');
  mkdirSync(dir, { recursive: true });
  const stateFile = join(dir, 'state.json');
  rmSync(stateFile, { force: true }); // a fresh world: vcsim forgets its VMs too
  const nets = Object.values(c.site.nets).map((n) => ({
    title: n.title,
    cidr: n.cidr,
    ...(n.gateway ? { gateway: n.gateway } : {}),
  }));
  const log = join(dir, 'idoit.log');
  const p = startDetached(process.execPath, emulatorCommand(), log, {
    env: {
      IDOIT_EMULATOR_STATE: stateFile,
      IDOIT_EMULATOR_API_KEY: apiKey,
      IDOIT_EMULATOR_PORT: String(port),
      IDOIT_EMULATOR_NETS: JSON.stringify(nets),
      ...(user ? { IDOIT_EMULATOR_USER: user, IDOIT_EMULATOR_PASSWORD: password ?? '' } : {}),
      IDOIT_EMULATOR_API_VERSION: i.emulator?.apiVersion ?? '2.x',
      IDOIT_EMULATOR_QUICKPURGE: i.emulator?.quickPurge ? '1' : '0',
    },
  });
  track(c, 'i-doit emulator', p, i.url, log);
  await waitReady('i-doit emulator', p, log, () => tcpOpen(port));
  c.progress(
    `i-doit emulator (API add-on ${i.emulator?.apiVersion ?? '2.x'}): ${i.url} — layer-3 nets ${nets.map((n) => `${n.title} ${n.cidr}`).join(', ')}`,
  );
}
