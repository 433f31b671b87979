/**
 * An i-doit JSON-RPC emulator for tests and the lab: `startIdoitEmulator({port, stateFile, apiKey})`.
 * Behaviour, with its public source per point and the versions it can play, is listed in README.md.
 */
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import { saveCategory } from './category-methods';
import { intToIp, ipToInt } from '../../net/ipv4';
import type { Ctx, EmulatorUser } from './methods';
import { objectCreate } from './objects';
import { JsonRpcServer, type Stats } from './server';
import { Store } from './store';
import { PROFILES, type ApiVersion } from './versions';

export type { EmulatorUser } from './methods';
export { Store } from './store';
export { API_VERSIONS, PROFILES, parseApiVersion, type ApiVersion } from './versions';

export interface NetSeed {
  /** Title of the layer-3 net object. */
  title: string;
  /** e.g. 10.20.30.0/24 */
  cidr: string;
  /** Address of a router object created as the net's default gateway. */
  gateway?: string;
  /** DHCP ranges of the net (C__CATS__NET_DHCP). */
  dhcp?: { from: string; to: string }[];
}

export interface IdoitEmulatorOptions {
  /** 0 or absent: a free port. Always binds 127.0.0.1. */
  port?: number;
  stateFile: string;
  apiKey: string;
  users?: EmulatorUser[];
  /** Layer-3 nets created at start when no object of that title exists yet. */
  nets?: NetSeed[];
  /** The API add-on generation to play (default 2.x); see versions.ts and README.md. */
  apiVersion?: ApiVersion;
  /** Tenant setting api.authenticated-users-only; default: the version's (1.10: on; later: on when users are given). */
  authenticatedUsersOnly?: boolean;
  /** Tenant setting cmdb.unique.ip-address (default on). */
  uniqueIp?: boolean;
  /** What idoit.version reports instead of the version's own core version (to test clients against other versions). */
  coreVersion?: string;
  /** The admin's unique-SYSID check (default off, as in a stock i-doit). */
  uniqueSysid?: boolean;
  /** Tenant setting cmdb.quickpurge (default off); add-on 1.10 refuses cmdb.object.purge without it. */
  quickPurge?: boolean;
  sessionTimeoutSeconds?: number;
  tenant?: string;
  publicUrl?: string;
  newSessionId?: () => string;
  now?: () => Date;
}

export interface IdoitEmulator {
  url: string;
  /** The JSON-RPC endpoint (url + /src/jsonrpc.php). */
  endpoint: string;
  close(): Promise<void>;
  stats(): Stats;
  resetStats(): void;
  /** Ends every session now, as an idle timeout would. */
  expireSessions(): void;
  /** The next `count` HTTP requests answer with `status` (default 503) or stall for `stallMs` and drop. */
  injectFaults(f: { count: number; status?: number; stallMs?: number }): void;
  /**
   * Race tests: from now on, requests whose body contains `bodyIncludes` are held until `count` of them
   * wait (or `maxWaitMs` passed since the first), then answered together; null switches it off.
   */
  holdTogether(h: { bodyIncludes: string[]; count: number; maxWaitMs: number } | null): void;
  store: Store;
  apiVersion: ApiVersion;
}

export function seedNet(ctx: Ctx, seed: NetSeed): number {
  const [addr, bits] = seed.cidr.split('/');
  const prefix = Number(bits);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if (ipToInt(addr ?? '') === null || !(prefix >= 0 && prefix <= 32))
    throw new Error(`net ${seed.title}: invalid cidr ${seed.cidr}`);
  const created = objectCreate(ctx, { type: 'C__OBJTYPE__LAYER3_NET', title: seed.title }) as { id: number };
  saveCategory(ctx, {
    object: created.id,
    category: 'C__CATS__NET',
    data: { type: 1, address: addr, netmask: intToIp(mask) },
  });
  if (seed.gateway) {
    const gw = objectCreate(ctx, { type: 'C__OBJTYPE__ROUTER', title: `gw-${seed.title}` }) as { id: number };
    saveCategory(ctx, {
      object: gw.id,
      category: 'C__CATG__IP',
      data: { net: created.id, ipv4_assignment: 2, ipv4_address: seed.gateway, use_standard_gateway: 1, primary: 1 },
    });
  }
  for (const d of seed.dhcp ?? []) {
    saveCategory(ctx, {
      object: created.id,
      category: 'C__CATS__NET_DHCP',
      data: { type: 1, range_from: d.from, range_to: d.to },
    });
  }
  return created.id;
}

export async function startIdoitEmulator(o: IdoitEmulatorOptions): Promise<IdoitEmulator> {
  const store = Store.load(o.stateFile, o.now);
  const users = o.users ?? [];
  const apiVersion = o.apiVersion ?? '2.x';
  const profile = o.coreVersion ? { ...PROFILES[apiVersion], coreVersion: o.coreVersion } : PROFILES[apiVersion];
  const authDefault =
    profile.authenticatedUsersOnly === 'when-users' ? users.length > 0 : profile.authenticatedUsersOnly;
  const opts = {
    tenant: o.tenant ?? 'ACME IT',
    publicUrl: o.publicUrl ?? 'https://cmdb.example.org',
    uniqueIp: o.uniqueIp ?? true,
    uniqueSysid: o.uniqueSysid ?? false,
    quickPurge: o.quickPurge ?? false,
    apiVersion,
    profile,
    apiKey: o.apiKey,
    users,
    authenticatedUsersOnly: o.authenticatedUsersOnly ?? authDefault,
    sessionTimeoutSeconds: o.sessionTimeoutSeconds ?? 300,
    newSessionId: o.newSessionId ?? (() => randomBytes(13).toString('hex')),
    persist: () => store.save(o.stateFile),
  };
  const ctx: Ctx = { store, opts, user: { username: 'setup', password: '' }, language: 'en' };
  for (const n of o.nets ?? []) {
    const exists = store.allObjects().some((x) => x.title === n.title && x.typeId === 31);
    if (!exists) seedNet(ctx, n);
  }
  store.save(o.stateFile);
  const rpc = new JsonRpcServer(store, opts);
  const server = http.createServer(rpc.handle);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    endpoint: `${url}/src/jsonrpc.php`,
    store,
    apiVersion,
    stats: () => ({ ...rpc.stats, byMethod: { ...rpc.stats.byMethod } }),
    resetStats: () => Object.assign(rpc.stats, { httpRequests: 0, calls: 0, byMethod: {} }),
    expireSessions: () => rpc.expireSessions(),
    injectFaults: (f) => {
      rpc.faults = { ...f };
    },
    holdTogether: (h) => {
      rpc.barrier = h
        ? {
            matches: (b) => h.bodyIncludes.every((x) => b.includes(x)),
            count: h.count,
            maxWaitMs: h.maxWaitMs,
            waiting: [],
          }
        : null;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
