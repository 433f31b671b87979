/**
 * The i-doit backend through the conformance suite, for both steps it serves: `ipam` (host addresses)
 * and `cmdb` (the system's object and categories), each against its own i-doit emulator (API add-on
 * 2.x, quick-purge on). The operator's object is a virtual server titled `www` without shipshape's
 * SYSID or description claim, holding 10.40.250.250. The CMDB has no collider: it documents beside
 * the operator's objects and takes nothing a system needs exclusively (the IPAM's address does).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UNKNOWN, type Provider } from '../../src/engine/contract';
import type { SecretRef, SiteConfig } from '../../src/manifest/site';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { IdoitCmdbProvider } from '../../src/providers/idoit/cmdb';
import { IdoitIpamProvider } from '../../src/providers/idoit/ipam';
import { claimDescription, sealOf, systemMarker } from '../../src/providers/idoit/marker';
import { createIdoitClient } from '../../src/providers/idoit/site-client';
import { testContext, testSite, testSystem } from '../support/idoit-fixtures';
import { conformance, type Harness } from './suite';

const SECRETS: Record<string, string> = {
  '${env:IDOIT_API_KEY}': 'conf-key',
  '${env:IDOIT_USER}': 'shipshape',
  '${env:IDOIT_PASSWORD}': 'pw',
  '${env:OWNERSHIP_KEY}': 'the-conformance-site-key-0123456789',
};
const secret = async (r: SecretRef) => SECRETS[r.ref] ?? '';
const wrongKey = async (r: SecretRef) => (r.ref === '${env:IDOIT_API_KEY}' ? 'not-the-key' : secret(r));
const NET = { title: 'c-net', cidr: '10.40.0.0/16', gateway: '10.40.0.1' };
const FOREIGN_IP = '10.40.250.250';
const hex = (n: number) => n.toString(16).padStart(2, '0');

function idoitHarness(kind: 'ipam' | 'cmdb'): Harness {
  let dir: string;
  let emu: IdoitEmulator;
  let site: SiteConfig;
  const make = (s: (r: SecretRef) => Promise<string>): Provider => {
    const client = createIdoitClient(site, s);
    return (
      kind === 'ipam' ? new IdoitIpamProvider({ client, site }) : new IdoitCmdbProvider({ client, site })
    ) as Provider;
  };
  return {
    name: `${kind}/idoit`,
    scale: [10, 100],
    async start() {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), `shipshape-conf-${kind}-`));
      emu = await startIdoitEmulator({
        stateFile: path.join(dir, 'state.json'),
        apiKey: 'conf-key',
        users: [{ username: 'shipshape', password: 'pw' }],
        nets: [NET],
        quickPurge: true,
      });
      site = {
        ...testSite(emu.url, [{ ...NET, dnsServers: [] }]),
        ownership: { siteId: 'conformance', key: { ref: '${env:OWNERSHIP_KEY}' } },
      };
      const raw = createIdoitClient(site, secret);
      try {
        const [net] = await raw.call<{ id: number }[]>('cmdb.objects.read', {
          filter: { type: 'C__OBJTYPE__LAYER3_NET', title: NET.title },
        });
        await raw.call('cmdb.object.create', { type: 'C__OBJTYPE__VIRTUAL_HOST', title: 'esx-01' });
        await raw.call('cmdb.object.create', {
          type: 'C__OBJTYPE__VIRTUAL_SERVER',
          title: 'www',
          description: 'the web server the network team runs',
          categories: { C__CATG__IP: [{ net: net!.id, ipv4_address: FOREIGN_IP, hostname: 'www', primary: 1 }] },
        });
      } finally {
        await raw.close();
      }
    },
    async stop() {
      await emu?.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
    provider: () => make(secret),
    bad: () => ({ provider: make(wrongKey), ctx: testContext(site) }),
    ctx: () => ({ ...testContext(site), commit: 'abc1234' }),
    system: (n, changed) =>
      testSystem(`c-${n}`, {
        network: { net: NET.title, ip: 'auto', mac: `00:50:56:04:${hex(n >> 8)}:${hex(n & 255)}` },
        // The ipam step keeps hostname and domain; the cmdb step documents CPUs.
        ...(changed ? { dns: { domain: 'changed.example.org', aliases: [] }, cpu: 3 } : {}),
      }),
    resolved: (s) => ({ ip: UNKNOWN, mac: s.network.mac, host: 'esx-01' }),
    // What anyone who may edit i-doit objects can write: the SYSID and the description's claim, with no
    // seal or with the seal of another object copied from a real one.
    async forge(how) {
      const name = `forged-${how === 'unsealed' ? 1 : 2}`;
      const raw = createIdoitClient(site, secret);
      try {
        const [real] = await raw.call<{ id: number }[]>('cmdb.objects.read', {
          filter: { type: 'C__OBJTYPE__VIRTUAL_SERVER', title: 'c-1' },
        });
        const copied = sealOf(
          (
            await raw.call<{ description: string }[]>('cmdb.category.read', {
              objID: real!.id,
              category: 'C__CATG__GLOBAL',
            })
          )[0]!.description,
        );
        expect(copied).toMatch(/^v1:/);
        await raw.call('cmdb.object.create', {
          type: 'C__OBJTYPE__VIRTUAL_SERVER',
          title: name,
          sysid: systemMarker(name),
          description: claimDescription(
            name,
            `systems/${name}.yaml`,
            undefined,
            how === 'unsealed' ? undefined : copied,
          ),
          categories: { C__CATG__CPU: [{ title: 'vCPU', cores: 2 }] },
        });
      } finally {
        await raw.close();
      }
      return name;
    },
    foreignName: 'www',
    isForeign: (r) => r.system === 'www',
    ...(kind === 'ipam'
      ? {
          collider: () =>
            testSystem('c-900', { network: { net: NET.title, ip: FOREIGN_IP, mac: '00:50:56:04:ff:ff' } }),
        }
      : {
          notApplicable: {
            collider:
              "the CMDB documents beside the operator's objects: two objects may share a title in i-doit, and nothing a system needs is held exclusively by its object (the address is the IPAM step's)",
          },
        }),
  };
}

conformance(idoitHarness('ipam'));
conformance(idoitHarness('cmdb'));
