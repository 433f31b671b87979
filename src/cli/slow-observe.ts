/**
 * A backend that accepts the connection and then answers nothing (a vCenter in maintenance, an i-doit
 * whose database is locked) keeps a plan silent until the request's own timeout, two minutes for
 * vSphere. An operator who sees nothing for that long stops the run without knowing what hung; so an
 * observation still running after SLOW_AFTER_MS during which no backend sent anything
 * (src/net/activity.ts) is named on stderr (a warning, shown at the default log level) with where its
 * backend is, and again every REPEAT_MS of silence while it still runs. A large vCenter that pages
 * its answer for a minute keeps sending: no warning.
 */
import type { Logger, ResourceKind } from '../engine/contract';
import type { SiteConfig } from '../manifest/site';
import { lastHeardAt } from '../net/activity';

export const SLOW_AFTER_MS = 15_000;
const REPEAT_MS = 30_000;

/** Where a kind's backend is, for the notice: its URL, or the servers it reaches over SSH. */
export function backendOf(kind: ResourceKind, site: SiteConfig): string {
  const url = (s?: { [k: string]: unknown }) => (typeof s?.url === 'string' ? s.url : undefined);
  const names = (list: { name: string }[]) => list.map((x) => x.name).join(', ');
  switch (kind) {
    case 'vm':
      return `the VM platform, ${url(site.vms) ?? site.vms?.backend ?? 'vms'}`;
    case 'ip':
      return `the IPAM, ${url(site.ipam) ?? site.ipam?.backend ?? 'ipam'}`;
    case 'cmdb':
      return `the CMDB, ${url(site.cmdb) ?? site.cmdb?.backend ?? 'cmdb'}`;
    case 'dns':
      return `the DNS servers of zones ${names(site.dns.zones)}`;
    case 'dhcp':
      return `the DHCP servers ${names(site.dhcp.servers)}`;
    case 'install':
      return 'the provisioning records';
    case 'specialise':
      return 'the systems over SSH';
  }
}

/** Starts watching one kind's observation; call the returned function when it ended (either way). */
export function watchSlow(kind: ResourceKind, site: SiteConfig, log: Logger, afterMs = SLOW_AFTER_MS): () => void {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number) => {
    timer = setTimeout(check, ms);
    timer.unref();
  };
  const check = () => {
    const now = Date.now();
    const quiet = now - Math.max(t0, lastHeardAt());
    // Something came in meanwhile: look again once that much silence has passed.
    if (quiet < afterMs) return arm(afterMs - quiet);
    const secs = Math.round((now - t0) / 1000);
    log.warn(
      { kind, seconds: secs },
      `still observing ${kind} after ${secs} s, nothing received for ${Math.round(quiet / 1000)} s: no complete answer yet from ${backendOf(kind, site)}; waiting for it (each request gives up on its own timeout), or stop the run with Ctrl-C`,
    );
    arm(REPEAT_MS);
  };
  arm(afterMs);
  return () => clearTimeout(timer);
}
