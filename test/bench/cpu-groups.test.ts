import { CpuAccount, daemonGroup, ProcTable, type ProcSample } from '../../bench/cpu-groups';

/** A process table entry; times in clock ticks. */
const p = (pid: number, ppid: number, comm: string, ticks: number, childTicks = 0, cmdline = ''): ProcSample => ({
  pid,
  ppid,
  start: pid * 10,
  comm,
  cmdline,
  ticks,
  childTicks,
});

const BENCH = 100;
const APPLY = 200;
const LAB = '/tmp/x/repo';
const LAB_SSHD = `sshd: /usr/sbin/sshd -D -e -f ${LAB}/.lab/systems/bulk-001/sshd_config [listener]`;
/** The lab's daemons as lab.json names them. */
const DAEMONS = new Map([
  [400, daemonGroup('vcsim')],
  [401, daemonGroup('i-doit emulator')],
  [402, daemonGroup('provisioning server')],
  [403, daemonGroup('named')],
  [404, daemonGroup('sshd')],
]);
const rules = { applyPid: () => APPLY, benchPid: BENCH, labRoot: LAB, daemons: DAEMONS };

describe('bench:lab CPU by group', () => {
  it('counts a seen session that ends once, although its sshd then holds it in its reaped time', () => {
    const a = new CpuAccount(rules);
    a.add([p(1, 0, 'systemd', 50, 1000), p(BENCH, 1, 'node', 10), p(300, 1, 'sshd', 5, 0, LAB_SSHD)]);
    // A session (sshd child, then its shell) seen while it runs.
    a.add([
      p(1, 0, 'systemd', 50, 1000),
      p(BENCH, 1, 'node', 12),
      p(300, 1, 'sshd', 6, 0, LAB_SSHD),
      p(301, 300, 'sshd', 20),
      p(302, 301, 'sh', 30),
    ]);
    // Both ended and were reaped: the shell with 40 ticks (into 301's reaped time), 301 with 25 of its own.
    a.add([p(1, 0, 'systemd', 50, 1000), p(BENCH, 1, 'node', 14), p(300, 1, 'sshd', 6, 65, LAB_SSHD)]);
    const t = a.totals();
    expect(t.get('lab-systems')).toBe(1 + 25 + 40);
    expect(t.get('bench')).toBe(4);
    expect(t.get('other') ?? 0).toBe(0);
  });

  it('takes off its parent only what a process that ended spent, not what it had spent before the first sample', () => {
    const a = new CpuAccount(rules);
    // Another user's long job: 4000 ticks before the bench started sampling.
    a.add([p(1, 0, 'init', 0, 0), p(BENCH, 1, 'node', 0), p(50, 1, 'bash', 1, 0), p(51, 50, 'tsc', 4000)]);
    a.add([p(1, 0, 'init', 0, 0), p(BENCH, 1, 'node', 0), p(50, 1, 'bash', 1, 0), p(51, 50, 'tsc', 4100)]);
    // It ended (4120 in all) and bash reaped it.
    a.add([p(1, 0, 'init', 0, 0), p(BENCH, 1, 'node', 0), p(50, 1, 'bash', 1, 4120)]);
    expect(a.totals().get('other')).toBe(120);
  });

  it('takes nothing off a parent whose reaped time did not grow (it ignores SIGCHLD)', () => {
    const a = new CpuAccount(rules);
    a.add([p(1, 0, 'init', 0, 500), p(BENCH, 1, 'node', 0), p(60, 1, 'worker', 30)]);
    a.add([p(1, 0, 'init', 0, 500), p(BENCH, 1, 'node', 0)]);
    expect(a.totals().get('other')).toBe(0);
  });

  it("puts the apply's commands, the lab helper's commands and this lab's stand-in servers in their groups", () => {
    const a = new CpuAccount(rules);
    a.add([p(1, 0, 'systemd', 0), p(BENCH, 1, 'node', 0)]);
    a.add([
      p(1, 0, 'systemd', 0),
      p(BENCH, 1, 'node', 0),
      p(APPLY, BENCH, 'node', 100, 7),
      p(201, APPLY, 'node', 3, 9, "node -e const { execFile, spawn } = require('node:child_process');"),
      p(202, 201, 'ip', 1),
      p(203, APPLY, 'debconf-set-sel', 2),
      p(400, 1, 'vcsim', 30),
      p(401, 1, 'node', 8, 0, 'node /x/dist/src/lab/idoit/cli.js'),
      p(402, 1, 'node', 6, 0, 'node /x/dist/src/cli/run.js --state-dir /s provision -C /r'),
      p(403, 1, 'named', 4),
      p(404, 1, 'sshd', 2, 11, 'sshd: /usr/sbin/sshd -D -e -f /tmp/x/repo/.lab/ssh/sshd_config'),
      p(405, 1, 'bash', 70),
      // Another lab's vcsim and system sshd on the same machine are not this lab's.
      p(406, 1, 'vcsim', 50),
      p(407, 1, 'sshd', 5, 0, 'sshd: /usr/sbin/sshd -D -e -f /tmp/y/repo/.lab/systems/bulk-001/sshd_config'),
    ]);
    const t = a.totals();
    expect(Object.fromEntries(t)).toEqual({
      shipshape: 100,
      'shipshape-commands': 7 + 2,
      'lab-systems': 3 + 9 + 1,
      vcsim: 30,
      idoit: 8,
      provisioning: 6,
      'dns-dhcp': 4 + 2 + 11,
      other: 70 + 50 + 5,
      bench: 0,
    });
  });

  it('reads this machine’s process table, itself included', () => {
    const table = new ProcTable();
    table.read();
    const me = table.read().find((x) => x.pid === process.pid);
    table.close();
    expect(me).toMatchObject({ ppid: process.ppid, start: expect.any(Number) });
    expect(me!.ticks).toBeGreaterThan(0);
  });
});
