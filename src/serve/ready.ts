/**
 * Readiness for `serve`'s /readyz: can this process reach the backends the site names? One TCP
 * connect per distinct endpoint (the URLs of the vms, ipam and cmdb backends, DNS servers, the SSH servers of DNS and
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

/** Every endpoint the site's backend sections name: `url` of vms/ipam/cmdb, DNS servers, the SSH servers of DNS and DHCP. */
export function siteEndpoints(site: SiteConfig): Endpoint[] {
  const out: Endpoint[] = [];
  const hostPort = (key: string, v: unknown) => {
    const o = v as { host?: unknown; port?: unknown } | undefined;
    if (o && typeof o.host === 'string' && typeof o.port === 'number') out.push({ key, host: o.host, port: o.port });
  };
  for (const name of ['vms', 'ipam', 'cmdb'] as const) {
    const url = site[name]?.url;
    if (typeof url !== 'string') continue;
    try {
      const p = new URL(url);
      out.push({
        key: `${name}.url`,
        host: p.hostname.replace(/^\[|\]$/g, ''),
        port: Number(p.port) || (p.protocol === 'https:' ? 443 : 80),
      });
    } catch {
      /* validation reports a bad URL */
    }
  }
  site.dns.zones.forEach((z, i) => {
    hostPort(`dns.zones[${i}].server`, z.server);
    hostPort(`dns.zones[${i}].ssh`, z.ssh);
  });
  site.dhcp.servers.forEach((s, i) => hostPort(`dhcp.servers[${i}].ssh`, s.ssh));
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
export function readiness(
  site: () => SiteConfig | undefined,
  cacheMs = 10_000,
): () => Promise<EndpointState[] | undefined> {
  let cached: { at: number; value: Promise<EndpointState[]> } | undefined;
  return () => {
    const s = site();
    if (!s) return Promise.resolve(undefined);
    if (!cached || Date.now() - cached.at > cacheMs)
      cached = { at: Date.now(), value: Promise.all(siteEndpoints(s).map((e) => probe(e))) };
    return cached.value;
  };
}
