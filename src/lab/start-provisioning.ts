/**
 * The lab's provisioning server: `shipshape provision` run detached, with the lab's state dir
 * (`.lab/state`, the one scripts/lab.sh exports as SHIPSHAPE_STATE_DIR), so the install step of an
 * apply and the server see the same install records. The installer itself is a stand-in in the lab.
 */
import { extname, join } from 'node:path';
import type { LabContext } from './context';
import { loopbackPort, tcpOpen, track } from './context';
import { startDetached, waitReady } from './process';
import { PACKAGE_ROOT } from './vcsim';

/** The state dir every lab command uses. */
export function labStateDir(root: string): string {
  return join(root, '.lab', 'state');
}

function cliCommand(): string[] {
  const ext = extname(__filename);
  const entry = join(__dirname, '..', 'cli', `run${ext}`);
  return ext === '.ts' ? ['-r', join(PACKAGE_ROOT, 'test', 'helpers', 'ts-register.js'), entry] : [entry];
}

export async function startLabProvisioning(c: LabContext): Promise<void> {
  const p = c.site.provisioning;
  if (!p) return;
  const port = loopbackPort('provisioning.listen', `http://${p.listen}`, 80);
  const log = join(c.dir, 'provisioning.log');
  const proc = startDetached(
    process.execPath,
    [...cliCommand(), '--state-dir', labStateDir(c.root), 'provision', '-C', c.root],
    log,
  );
  track(c, 'provisioning server', proc, p.baseUrl, log);
  await waitReady('provisioning server', proc, log, () => tcpOpen(port), 60_000);
  c.progress(`provisioning server: ${p.baseUrl} — boot scripts and answer files; the installer is a lab stand-in`);
}
