import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateJournal } from '../../engine/journal';
import { legacyJournalDirs, migrateSiteJournals } from './legacy-journal';

const vms = { backend: 'vsphere', url: 'https://vc.example.com/sdk', datacenter: 'DC0', folder: 'shipshape' };

function setup() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'shipshape-legacy-'));
  const stateDir = path.join(base, 'state');
  const root = path.join(base, 'repo');
  fs.mkdirSync(root, { recursive: true });
  const journal = CreateJournal.forRepo(stateDir, root);
  const [stateLayout, repoLayout] = legacyJournalDirs({ stateDir, root, vms });
  const warnings: string[] = [];
  const log = {
    info: () => {},
    debug: () => {},
    error: () => {},
    warn: (_o: object | string, m?: string) => void warnings.push(m ?? ''),
  };
  const old = (dir: string, e: Record<string, unknown>) => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${e.system as string}.json`), JSON.stringify(e, null, 2));
  };
  return { base, stateDir, root, journal, stateLayout: stateLayout!, repoLayout: repoLayout!, warnings, log, old };
}

test('old-layout vSphere journals (state dir and repo folder) become engine entries, once, and the old files go', () => {
  const t = setup();
  // The layout and entry shape of the version before the journal was the engine's.
  t.old(t.stateLayout, {
    system: 'web-01',
    name: 'web-01',
    folder: 'shipshape',
    startedAt: '2026-11-29T10:00:00.000Z',
    task: 'task-12',
    vm: 'vm-44',
  });
  t.old(t.repoLayout, { system: 'db-01', name: 'db-01', folder: 'shipshape', startedAt: '2026-11-27T08:00:00.000Z' });
  expect(migrateSiteJournals(t.stateDir, t.root, vms, t.journal, t.log).sort()).toEqual(['db-01', 'web-01']);
  expect(t.journal.list().map((e) => [e.kind, e.system, e.startedAt, e.detail])).toEqual(
    expect.arrayContaining([
      ['vm', 'web-01', '2026-11-29T10:00:00.000Z', { task: 'task-12', vm: 'vm-44' }],
      ['vm', 'db-01', '2026-11-27T08:00:00.000Z', {}],
    ]),
  );
  // What the engine hands the next create: the interrupted clone's task and VM.
  expect(t.journal.begin('vm', 'web-01').interrupted).toEqual({
    startedAt: '2026-11-29T10:00:00.000Z',
    detail: { task: 'task-12', vm: 'vm-44' },
  });
  expect(fs.existsSync(t.stateLayout)).toBe(false);
  expect(fs.existsSync(t.repoLayout)).toBe(false);
  expect(t.warnings.filter((w) => /of an earlier version moved to/.test(w))).toHaveLength(2);
  expect(migrateSiteJournals(t.stateDir, t.root, vms, t.journal, t.log)).toEqual([]);
  fs.rmSync(t.base, { recursive: true, force: true });
});

test('an entry the current journal already holds wins; a torn old entry still counts as an interrupted create', () => {
  const t = setup();
  t.journal.begin('vm', 'web-01').note({ task: 'task-99' });
  t.old(t.stateLayout, {
    system: 'web-01',
    name: 'web-01',
    folder: 'shipshape',
    startedAt: '2026-11-01T00:00:00Z',
    task: 'task-1',
  });
  fs.mkdirSync(t.repoLayout, { recursive: true });
  fs.writeFileSync(path.join(t.repoLayout, 'app-01.json'), '{"system": "app-0');
  expect(migrateSiteJournals(t.stateDir, t.root, vms, t.journal, t.log)).toEqual(['app-01']);
  expect(t.journal.read('vm', 'web-01')!.detail).toEqual({ task: 'task-99' });
  expect(t.journal.read('vm', 'app-01')!.detail).toEqual({});
  expect(fs.readdirSync(t.repoLayout).some((f) => f.startsWith('app-01.json.corrupt-'))).toBe(true);
  expect(t.warnings.join('\n')).toMatch(/was corrupt/);
  fs.rmSync(t.base, { recursive: true, force: true });
});

test('another backend or another vCenter folder is left alone', () => {
  const t = setup();
  t.old(t.stateLayout, { system: 'web-01', name: 'web-01', folder: 'shipshape', startedAt: '2026-11-29T10:00:00Z' });
  expect(migrateSiteJournals(t.stateDir, t.root, { ...vms, backend: 'other' }, t.journal, t.log)).toEqual([]);
  expect(migrateSiteJournals(t.stateDir, t.root, { ...vms, folder: 'prod' }, t.journal, t.log)).toEqual([]);
  expect(fs.existsSync(path.join(t.stateLayout, 'web-01.json'))).toBe(true);
  fs.rmSync(t.base, { recursive: true, force: true });
});
