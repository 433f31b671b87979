/**
 * Readiness for `serve`'s /readyz: can this process reach the backends the site names? One TCP
 * connect per distinct endpoint (vSphere and i-doit URLs, DNS servers, the SSH servers of DNS and
 * DHCP), each bounded by a timeout, cached briefly so a probe every few seconds does not hammer
 * vCenter. A connect is all: credentials are checked by the runs, whose result /readyz reports
 * as information (a failed run does not make the process unready or unhealthy).
 */
import { connect } from 'node:net';
import type { SiteConfig } from '../manifest/site';

export interface Endpoint {
  /** The site-config key the operator fixes when it is unreachable. */
  key: string;
  host: string;
  port: number;
}

export interface EndpointState extends Endpoint {
  reachable: boolean;
  error?: string;
}

export function siteEndpoints(site: SiteConfig): Endpoint[] {
  const out: Endpoint[] = [];
  const url = (key: string, u: string) => {
    const p = new URL(u);
    out.push({ key, host: p.hostname.replace(/^\[|\]$/g, ''), port: Number(p.port) || (p.protocol === 'https:' ? 443 : 80) });
  };
  if (site.vsphere) url('vsphere.url', site.vsphere.url);
  if (site.idoit) url('idoit.url', site.idoit.url);
  site.dns.zones.forEach((z, i) => {
    out.push({ key: `dns.zones[${i}].server`, host: z.server.host, port: z.server.port });
    if (z.ssh) out.push({ key: `dns.zones[${i}].ssh`, host: z.ssh.host, port: z.ssh.port });
  });
  site.dhcp.servers.forEach((s, i) => out.push({ key: `dhcp.servers[${i}].ssh`, host: s.ssh.host, port: s.ssh.port }));
  const seen = new Set<string>();
  return out.filter((e) => {
    const k = `${e.host}:${e.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function probe(e: Endpoint, timeoutMs = 2000): Promise<EndpointState> {
  return new Promise((resolve) => {
    const s = connect({ host: e.host, port: e.port });
    const done = (error?: string) => {
      s.destroy();
      resolve({ ...e, reachable: !error, ...(error ? { error } : {}) });
    };
    s.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs / 1000}s`));
    s.once('connect', () => done());
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

/** Probes every endpoint in parallel, at most once per `cacheMs`. */
export function readiness(site: () => SiteConfig | undefined, cacheMs = 10_000): () => Promise<EndpointState[] | undefined> {
  let cached: { at: number; value: Promise<EndpointState[]> } | undefined;
  return () => {
    const s = site();
    if (!s) return Promise.resolve(undefined);
    if (!cached || Date.now() - cached.at > cacheMs) cached = { at: Date.now(), value: Promise.all(siteEndpoints(s).map((e) => probe(e))) };
    return cached.value;
  };
}
