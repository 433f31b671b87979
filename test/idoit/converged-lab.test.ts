/**
 * The example lab's systems plus 100 `ip: auto` systems, applied at once through the CLI into a fresh
 * i-doit (the i-doit steps only), per emulated API add-on: no auto system takes an address a manifest
 * declares (web-dev-02 keeps 198.51.100.20), and the converged lab plans zero changes.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { PROFILES, startIdoitEmulator, type IdoitEmulator } from '../../src/lab/idoit';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { copyLabExamples, LAB_EXAMPLES, provideOwnershipKey } from '../helpers/lab-site';
import { EMULATED_VERSIONS } from './emulated';

const PERF = 100;

describe.each(EMULATED_VERSIONS)('i-doit API add-on %s', (apiVersion) => {
  let work: string;
  let emu: IdoitEmulator;
  let repo: string;

  beforeAll(async () => {
    work = tempDir(`converged-${apiVersion}`);
    emu = await startIdoitEmulator({
      stateFile: join(work, 'idoit.json'),
      apiKey: 'lab-key',
      users: [{ username: 'shipshape', password: 'lab-pw' }],
      apiVersion,
      nets: [
        { title: 'dev-net', cidr: '198.51.100.0/24', gateway: '198.51.100.1' },
        { title: 'live-net', cidr: '203.0.113.0/24', gateway: '203.0.113.1' },
      ],
    });
    process.env.SHIPSHAPE_CONVERGED_IDOIT_KEY = 'lab-key';
    process.env.SHIPSHAPE_CONVERGED_IDOIT_USER = 'shipshape';
    process.env.SHIPSHAPE_CONVERGED_IDOIT_PASSWORD = 'lab-pw';
    repo = join(work, 'repo');
    copyLabExamples(repo);
    const doc = parseDocument(readFileSync(join(LAB_EXAMPLES, 'shipshape.yaml'), 'utf8'));
    const spec = doc.get('spec') as any;
    for (const k of ['vms', 'dns', 'dhcp', 'specialise', 'provisioning']) spec.delete(k);
    spec.setIn(['defaults', 'concurrency'], 16);
    for (const step of ['ipam', 'cmdb']) {
      spec.setIn([step, 'url'], emu.endpoint);
      spec.setIn([step, 'apiKey'], '${env:SHIPSHAPE_CONVERGED_IDOIT_KEY}');
      spec.setIn([step, 'username'], '${env:SHIPSHAPE_CONVERGED_IDOIT_USER}');
      spec.setIn([step, 'password'], '${env:SHIPSHAPE_CONVERGED_IDOIT_PASSWORD}');
    }
    writeFileSync(join(repo, 'shipshape.yaml'), doc.toString());
    provideOwnershipKey(repo); // no `lab up` here, which would generate it
    mkdirSync(join(repo, 'systems', 'perf'));
    for (let i = 0; i < PERF; i++) {
      const name = `perf-dev-${String(i).padStart(2, '0')}`;
      writeFileSync(
        join(repo, 'systems', 'perf', `${name}.yaml`),
        `apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: ${name} }\nspec:\n  profile: base\n  network: { net: dev-net }\n`,
      );
    }
  });

  afterAll(async () => {
    await emu?.close();
    if (work) removeDir(work);
  });

  it(`applies ${PERF} auto systems with the examples at once without taking a declared address, then plans nothing`, async () => {
    const state = join(work, 'state');
    const first = await runCli(['--state-dir', state, 'apply', '-C', repo]);
    expect({ code: first.code, err: first.code === 0 ? '' : first.err }).toEqual({ code: 0, err: '' });
    const net = emu.store.allObjects().find((o) => o.title === 'dev-net')!;
    const holders = emu.store
      .hostAddressesIn(net.id)
      .map((e) => [emu.store.object(e.objId)!.title, e.data.ipv4_address]);
    expect(holders.filter(([, ip]) => ip === '198.51.100.20')).toEqual([['web-dev-02', '198.51.100.20']]);
    expect(new Set(holders.map(([, ip]) => ip)).size).toBe(holders.length);
    const plan = await runCli(['--state-dir', state, 'plan', '-C', repo, '--detailed-exitcode']);
    expect({ code: plan.code, out: plan.code === 0 ? '' : plan.out }).toEqual({ code: 0, out: '' });
    // The plan header says which i-doit it talked to.
    const header = `server i-doit ${PROFILES[apiVersion].coreVersion} PRO, url ${emu.endpoint}`;
    expect(plan.out.split('\n').slice(0, 2)).toEqual([`ip: ${header}`, `cmdb: ${header}`]);
  }, 300_000);
});
