/**
 * An explicit address that another declared system holds with `ip: auto`: one apply moves the holder
 * (to the next free address) and then gives the claimant its address, DNS, DHCP and the CMDB following
 * both. On real named (bind-ssh and RFC 2136), dhcpd (`dhcpd -t` on every deploy), Kea and the i-doit
 * emulator, through the CLI. A scope leaving the holder out blocks the claim and says to add it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { startDnsDhcpSite, type DnsDhcpSite } from '../helpers/dns-dhcp-site';
import type { Plan } from '../../src/plan/types';

let world: DnsDhcpSite;
let work: string;
let state: string;

beforeAll(async () => {
  work = tempDir('claim');
  state = join(work, 'state');
  world = await startDnsDhcpSite(work);
  const first = await runCli(['apply', '-C', world.repo, '--state-dir', state, '--max-deletes', '20']);
  if (first.code !== 0) throw new Error(`the first apply failed:\n${first.out}\n${first.err}`);
}, 240_000);

afterAll(async () => {
  await world?.stop();
  if (work) removeDir(work);
});

const q = () => world.named.resolver();
const a4 = async (name: string) => (await q().resolve4(name))[0]!;

async function idoit<T>(method: string, params: Record<string, unknown>): Promise<T> {
  const res = await fetch(world.emu.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, apikey: 'lab-key' } }),
  });
  const body = (await res.json()) as { result?: T; error?: unknown };
  if (!body.result) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

/** Address → the i-doit objects holding it in `net` (its IP list). */
async function ipList(net: string): Promise<Map<string, string[]>> {
  const [obj] = await idoit<{ id: number }[]>('cmdb.objects.read', {
    filter: { type: 'C__OBJTYPE__LAYER3_NET', title: net },
  });
  const rows = await idoit<{ title: string; object?: { title?: string } }[]>('cmdb.category.read', {
    objID: obj!.id,
    category: 'C__CATS__NET_IP_ADDRESSES',
  });
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.title, [...(out.get(r.title) ?? []), String(r.object?.title)]);
  return out;
}

function claim(file: string, name: string, net: string, ip: string, rest = ''): void {
  writeFileSync(
    join(world.repo, 'systems', file),
    `apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: ${name}\nspec:\n  profile: ${net === 'dev-net' ? 'web-dev' : 'web-live'}\n  network: { net: ${net}, ip: ${ip} }\n${rest}`,
  );
}

test('a scope that leaves the holder out blocks the claim and says to add it; one apply of the saved plan moves the holder, then the claim; the next plan is empty', async () => {
  const held = await a4('web-dev-01.dev.example.com'); // ip: auto
  const liveHeld = await a4('shop-live-01.live.example.com'); // ip: auto
  claim('dev/web-dev-02.yaml', 'web-dev-02', 'dev-net', held, '  cpu: 4\n');
  claim(
    'live/shop-live-02.yaml',
    'shop-live-02',
    'live-net',
    liveHeld,
    '  roles: [baseline/external, app/shop@7.4.1]\n',
  );

  // The plan orders the claim after the holder's move, and says so.
  const planned = await runCli(['plan', '-C', world.repo, '--state-dir', state]);
  expect(planned.code).toBe(0);
  expect(planned.out).toContain(`network.ip: 198.51.100.20 → ${held}`);
  expect(planned.out).toMatch(
    new RegExp(`network\\.ip: 198\\.51\\.100\\.20 → ${held.replace(/\./g, '\\.')}.*\\[after web-dev-01 frees it\\]`),
  );
  expect(planned.out).toMatch(/\[after shop-live-01 frees it\]/);
  expect(planned.out).not.toMatch(/BLOCKED/);
  const out = join(work, 'plan.json');
  expect((await runCli(['plan', '-C', world.repo, '--state-dir', state, '--format', 'json', '--out', out])).code).toBe(
    0,
  );
  const json = JSON.parse(readFileSync(out, 'utf8')) as Plan;
  expect(json.actions.find((a) => a.system === 'web-dev-02' && a.kind === 'ip')?.waitsFor).toEqual([
    { system: 'web-dev-01', kind: 'ip' },
  ]);

  // Scoped to the claimant: blocked, with what to do; apply changes nothing.
  const scoped = await runCli(['plan', '-C', world.repo, '--state-dir', state, '--system', 'web-dev-02']);
  expect(scoped.out).toMatch(
    /BLOCKED: network\.ip \S+ is held by web-dev-01: this scope \(--system web-dev-02\) leaves web-dev-01, which moves off it first, out; add it \(--system web-dev-01\)/,
  );
  const scopedApply = await runCli(['apply', '-C', world.repo, '--state-dir', state, '--system', 'web-dev-02']);
  expect(scopedApply.code).not.toBe(0);
  expect(await a4('web-dev-01.dev.example.com')).toBe(held);
  expect(await a4('web-dev-02.dev.example.com')).toBe('198.51.100.20');

  // One apply: the reviewed plan, applied exactly (each action checked against its digests), in wait order.
  const applied = await runCli(['apply', '-C', world.repo, '--state-dir', state, out]);
  expect({ code: applied.code, err: applied.code === 0 ? '' : applied.out + applied.err }).toEqual({
    code: 0,
    err: '',
  });
  expect(applied.out + applied.err).toContain('[after web-dev-01 frees it]'); // it printed the plan it executed
  const again = await runCli(['plan', '-C', world.repo, '--state-dir', state, '--detailed-exitcode']);
  expect({ code: again.code, out: again.code === 0 ? '' : again.out }).toEqual({ code: 0, out: '' });

  // DNS answers the new addresses, forward and reverse; the holder got one no manifest declares.
  expect(await a4('web-dev-02.dev.example.com')).toBe(held);
  expect(await q().reverse(held)).toEqual(['web-dev-02.dev.example.com']);
  const moved = await a4('web-dev-01.dev.example.com');
  expect(moved).not.toBe(held);
  expect(moved).not.toBe('198.51.100.20'); // web-dev-02's old address: released, but not the next free one
  expect(await q().reverse(moved)).toEqual(['web-dev-01.dev.example.com']);
  expect(await a4('shop-live-02.live.example.com')).toBe(liveHeld);
  const liveMoved = await a4('shop-live-01.live.example.com');
  expect(liveMoved).not.toBe(liveHeld);
  expect(await q().reverse(liveHeld)).toEqual(['shop-live-02.live.example.com']);

  // i-doit holds each address once, by the right object.
  const dev = await ipList('dev-net');
  expect([dev.get(held), dev.get(moved), dev.get('198.51.100.20')]).toEqual([
    ['web-dev-02'],
    ['web-dev-01'],
    undefined,
  ]);
  for (const [ip, holders] of dev) expect([ip, holders.length]).toEqual([ip, 1]);
  const live = await ipList('live-net');
  expect([live.get(liveHeld), live.get(liveMoved)]).toEqual([['shop-live-02'], ['shop-live-01']]);

  // dhcpd's include (deployed through `dhcpd -t`) has each address once; Kea took its config.
  const hosts = readFileSync(world.dhcpHosts, 'utf8');
  expect(hosts.split(`fixed-address ${held};`).length).toBe(2);
  expect(hosts.split(`fixed-address ${moved};`).length).toBe(2);
  const res = (await world.kea.command('config-get')).arguments.Dhcp4.subnet4[0].reservations as {
    hostname: string;
    'ip-address': string;
  }[];
  expect(res.filter((r) => r['ip-address'] === liveHeld).map((r) => r.hostname)).toEqual(['shop-live-02']);
  expect(res.filter((r) => r['ip-address'] === liveMoved).map((r) => r.hostname)).toEqual(['shop-live-01']);
}, 240_000);

test('two explicit addresses swapped are blocked on both sides, saying how to get there', async () => {
  const one = await a4('web-dev-01.dev.example.com');
  const two = await a4('web-dev-02.dev.example.com');
  claim('dev/web-dev-01.yaml', 'web-dev-01', 'dev-net', two, '  dns:\n    aliases: [shop]\n');
  claim('dev/web-dev-02.yaml', 'web-dev-02', 'dev-net', one, '  cpu: 4\n');
  const p = await runCli(['plan', '-C', world.repo, '--state-dir', state]);
  const blocked = p.out.split('\n').filter((l) => /BLOCKED/.test(l));
  expect(blocked).toHaveLength(2);
  for (const l of blocked) expect(l).toMatch(/each wait for the next to free an address first \(a swap\)/);
  const applied = await runCli(['apply', '-C', world.repo, '--state-dir', state]);
  expect(applied.code).toBe(3); // blocked only
  expect([await a4('web-dev-01.dev.example.com'), await a4('web-dev-02.dev.example.com')]).toEqual([one, two]);
}, 120_000);
