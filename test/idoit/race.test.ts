/**
 * Create-once without unique SYSIDs: two shipshape processes (separate state dirs, so no run lock
 * between them) run `shipshape apply` for the same new system at the same moment, 20 rounds per emulated
 * API add-on, with i-doit's uniqueness checks off (the default); the emulator holds each run's create
 * until the other's arrives, so in every round both runs found nothing and both created an object. After both finished, exactly one
 * object claims the system and it is complete; every other object they made is gone (purged), or —
 * where the add-on refuses purges without quick-purge — released and marked deleted. Then one more run
 * settles everything and a plan shows no change.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { EMULATED_VERSIONS } from './emulated';

const ROUNDS = 20;
const root = join(__dirname, '..', '..');
const KEY = 'race-key';
const USER = { username: 'shipshape', password: 'race-pw' };

interface Done {
  round: number;
  code: number;
  err: string;
}

class Runner {
  private waiting = new Map<number, (d: Done) => void>();
  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: Done | 'ready') => {
      if (m !== 'ready') this.waiting.get(m.round)?.(m);
    });
  }

  static start(stateDir: string): Promise<Runner> {
    const child = fork(join(__dirname, 'race-runner.ts'), [], {
      execArgv: ['-r', join(root, 'test', 'helpers', 'ts-register.js')],
      env: {
        ...process.env,
        RACE_STATE_DIR: stateDir,
        SHIPSHAPE_RACE_IDOIT_KEY: KEY,
        SHIPSHAPE_RACE_IDOIT_USER: USER.username,
        SHIPSHAPE_RACE_IDOIT_PASSWORD: USER.password,
        SHIPSHAPE_LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('race runner did not start within 180 s')), 180_000);
      child.once('message', () => {
        clearTimeout(timer);
        resolve(new Runner(child));
      });
      child.once('exit', (code) => reject(new Error(`race runner exited with ${code}`)));
    });
  }

  apply(repo: string, round: number): Promise<Done> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`round ${round}: apply did not finish within 60 s`)), 60_000);
      this.waiting.set(round, (d) => {
        clearTimeout(timer);
        resolve(d);
      });
      this.child.send({ repo, round });
    });
  }

  stop(): void {
    if (this.child.connected) this.child.send('stop');
    this.child.kill('SIGTERM');
  }
}

function site(endpoint: string): string {
  return [
    'apiVersion: shipshape.dev/v1',
    'kind: Site',
    'spec:',
    '  lab: true',
    '  defaults: { concurrency: 4, maxDeletes: 3 }',
    ...['ipam', 'cmdb'].flatMap((step) => [
      `  ${step}:`,
      '    backend: idoit',
      `    url: ${endpoint}`,
      '    apiKey: ${env:SHIPSHAPE_RACE_IDOIT_KEY}',
      '    username: ${env:SHIPSHAPE_RACE_IDOIT_USER}',
      '    password: ${env:SHIPSHAPE_RACE_IDOIT_PASSWORD}',
    ]),
    '  nets:',
    '    race-net: { cidr: 10.77.0.0/24, gateway: 10.77.0.1, domain: race.example.com }',
    '',
  ].join('\n');
}

const system = (name: string) =>
  `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: ${name} }\nspec:\n  profile: base\n  network: { net: race-net }\n`;

function makeRepo(dir: string, endpoint: string, names: string[]): string {
  mkdirSync(join(dir, 'systems'), { recursive: true });
  for (const d of ['profiles', 'os', 'roles'])
    cpSync(join(root, 'examples', 'lab', d), join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'shipshape.yaml'), site(endpoint));
  for (const n of names) writeFileSync(join(dir, 'systems', `${n}.yaml`), system(n));
  return dir;
}

describe.each(EMULATED_VERSIONS)('i-doit API add-on %s', (apiVersion) => {
  let work: string;
  let emu: IdoitEmulator;
  const runners: Runner[] = [];

  beforeAll(async () => {
    work = tempDir(`race-${apiVersion}`);
    emu = await startIdoitEmulator({
      // Every uniqueness check off: SYSIDs (off in a stock i-doit) and IP addresses (the tenant may switch it off).
      stateFile: join(work, 'idoit.json'),
      apiKey: KEY,
      users: [USER],
      apiVersion,
      uniqueSysid: false,
      uniqueIp: false,
      nets: [{ title: 'race-net', cidr: '10.77.0.0/24', gateway: '10.77.0.1' }],
    });
    runners.push(...(await Promise.all([Runner.start(join(work, 'state-a')), Runner.start(join(work, 'state-b'))])));
  }, 300_000); // two children transpile the CLI on start: slow on a loaded 2-core machine

  afterAll(async () => {
    for (const r of runners) r.stop();
    await emu?.close();
    if (work) removeDir(work);
  });

  it(`two racing runs leave one object per system, ${ROUNDS} rounds out of ${ROUNDS}`, async () => {
    // Hold each run's create until the other run's create arrives too (at most 2 s): so both runs found
    // nothing before either created, which is the race a stock i-doit cannot stop.
    emu.holdTogether({
      bodyIncludes: ['"cmdb.object.create"', 'C__OBJTYPE__VIRTUAL_SERVER'],
      count: 2,
      maxWaitMs: 2000,
    });
    let raced = 0;
    const names: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const name = `race-${round}`;
      names.push(name);
      const repo = makeRepo(join(work, `repo-${round}`), emu.endpoint, [name]);
      const before = emu.store.allObjects().filter((o) => o.typeId === 59).length;
      emu.resetStats();
      const done = await Promise.all(runners.map((r) => r.apply(repo, round)));
      // (stderr is attached so a failing round shows what the run said)
      for (const d of done)
        expect({ round, code: d.code, err: d.code === 0 ? '' : d.err }).toEqual({ round, code: 0, err: '' });
      const creates = emu.stats().byMethod['cmdb.object.create'] ?? 0;
      if (creates - (round === 0 ? 1 : 0) >= 2) raced++; // round 0 also creates the OS object once

      const objects = emu.store
        .allObjects()
        .filter((o) => o.typeId === 59 && (o.title === name || o.title.startsWith(`${name} (duplicate of #`)));
      const claiming = objects.filter((o) => !o.description.startsWith('shipshape-released=') && o.status === 2);
      expect({ round, claiming: claiming.length }).toEqual({ round, claiming: 1 });
      const winner = claiming[0]!;
      expect(
        winner.sysid === `SHIPSHAPE-VM-${name}` || winner.description.startsWith(`shipshape-system=${name}\n`),
      ).toBe(true);
      for (const o of objects.filter((x) => x !== winner)) {
        // Only where purging is refused does a released duplicate stay, marked deleted.
        expect({
          round,
          apiVersion,
          status: o.status,
          released: o.description.startsWith('shipshape-released='),
        }).toEqual({ round, apiVersion: '1.10', status: 4, released: true });
        expect(emu.store.entriesOf('C__CATG__IP', o.id)).toEqual([]); // its address, if it got one, is given back
      }
      expect(emu.store.entriesOf('C__CATG__IP', winner.id).filter((e) => e.status === 2)).toHaveLength(1);
      expect(emu.store.entriesOf('C__CATG__CPU', winner.id).length).toBeGreaterThan(0);
      expect(emu.store.allObjects().filter((o) => o.typeId === 59).length - before).toBeLessThanOrEqual(2);
    }
    // The race really happened: in every round both runs created an object.
    expect(raced).toBe(ROUNDS);
    const net = emu.store.allObjects().find((o) => o.title === 'race-net')!;
    const held = emu.store
      .hostAddressesIn(net.id)
      .filter((e) => emu.store.inUse(e))
      .map((e) => String(e.data.ipv4_address));
    expect(new Set(held).size).toBe(held.length); // no address given twice
    expect(held).toHaveLength(ROUNDS + 1); // the gateway and one per system
    emu.holdTogether(null);

    // One more run over all of them settles what the racing runs both wrote; then nothing is left to plan.
    const all = makeRepo(join(work, 'repo-all'), emu.endpoint, names);
    process.env.SHIPSHAPE_RACE_IDOIT_KEY = KEY;
    process.env.SHIPSHAPE_RACE_IDOIT_USER = USER.username;
    process.env.SHIPSHAPE_RACE_IDOIT_PASSWORD = USER.password;
    const settle = await runCli(['--state-dir', join(work, 'state-c'), 'apply', '-C', all]);
    expect({ code: settle.code, err: settle.code === 0 ? '' : settle.err }).toEqual({ code: 0, err: '' });
    const plan = await runCli(['--state-dir', join(work, 'state-c'), 'plan', '-C', all, '--detailed-exitcode']);
    expect({ code: plan.code, out: plan.code === 0 ? '' : plan.out }).toEqual({ code: 0, out: '' });
  }, 600_000);
});
