import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../engine/contract';
import { installStateDir } from '../../providers/install/store';
import { startProvisioningServer, type ProvisioningServer } from '../../provisioning/server';
import type { ProvisioningSite } from '../../manifest/site';
import { ExitError } from '../errors';
import type { Io } from '../io';
import { loadValid, stateDir, type Loaded } from '../pipeline';

/** The site's provisioning server with its settings; shared by `provision` and `serve`. */
export async function startSiteProvisioning(
  loaded: Loaded,
  p: ProvisioningSite,
  state: string,
  log: Logger,
  listen?: string,
): Promise<ProvisioningServer> {
  const read = (what: string, file: string) =>
    fs.readFile(path.resolve(loaded.dir, file)).catch((e: NodeJS.ErrnoException) => {
      throw new ExitError(
        1,
        `provisioning.tls.${what} ${file} cannot be read (${e.code}); fix the path in shipshape.yaml`,
      );
    });
  const tls = p.tls
    ? { cert: await read('certFile', p.tls.certFile), key: await read('keyFile', p.tls.keyFile) }
    : undefined;
  return startProvisioningServer({
    // The lab's installer stand-in asks from loopback for systems whose addresses are documentation ranges.
    labLoopback: loaded.repo.site.lab,
    ...(tls ? { tls } : {}),
    listen: listen ?? p.listen,
    stateDir: installStateDir(state),
    localMirrors: p.localMirrors,
    root: loaded.dir,
    tokenTtlMs: p.installTimeoutMinutes * 60_000,
    failedLogMaxBytes: p.failedLogMaxKiB * 1024,
    log,
    onRequest: (e) => log.info(e, 'provisioning request'),
  });
}

/** `shipshape provision`: the provisioning server alone (`shipshape serve` runs the same one), until SIGINT/SIGTERM. */
export async function provisionCommand(
  opts: { dir: string; listen?: string; stateDir?: string },
  io: Io,
  log: Logger,
): Promise<number> {
  const loaded = await loadValid(opts.dir, io.err);
  const p = loaded.repo.site.provisioning;
  if (!p)
    throw new ExitError(
      1,
      'shipshape.yaml has no provisioning: section (listen, baseUrl, mirrors); there is nothing to serve',
    );
  const srv = await startSiteProvisioning(loaded, p, stateDir(opts.stateDir), log, opts.listen);
  io.err(`provisioning server on ${srv.url} (installers reach it as ${p.baseUrl}); Ctrl-C stops it`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await srv.close();
  return 0;
}
