import type { Logger } from '../../engine/contract';
import { installStateDir } from '../../providers/install/store';
import { startProvisioningServer } from '../../provisioning/server';
import { ExitError } from '../errors';
import type { Io } from '../io';
import { loadValid, stateDir } from '../pipeline';

/** `shipshape provision`: the provisioning server alone (`shipshape serve` runs the same one), until SIGINT/SIGTERM. */
export async function provisionCommand(opts: { dir: string; listen?: string; stateDir?: string }, io: Io, log: Logger): Promise<number> {
  const loaded = await loadValid(opts.dir, io.err);
  const p = loaded.repo.site.provisioning;
  if (!p) throw new ExitError(1, 'shipshape.yaml has no provisioning: section (listen, baseUrl, mirrors); there is nothing to serve');
  const srv = await startProvisioningServer({
    listen: opts.listen ?? p.listen,
    stateDir: installStateDir(stateDir(opts.stateDir)),
    localMirrors: p.localMirrors,
    root: loaded.dir,
    tokenTtlMs: p.installTimeoutMinutes * 60_000,
    failedLogMaxBytes: p.failedLogMaxKiB * 1024,
    log,
    onRequest: (e) => log.info(e, 'provisioning request'),
  });
  io.err(`provisioning server on ${srv.url} (installers reach it as ${p.baseUrl}); Ctrl-C stops it`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await srv.close();
  return 0;
}
