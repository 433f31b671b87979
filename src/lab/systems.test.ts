import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { readLabSystems, type LabSystemRecord } from './systems';

describe('readLabSystems', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(os.tmpdir(), 'shipshape-lab-records-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const write = (system: string, ip: string, mtime?: Date) => {
    const dir = join(root, '.lab', 'systems', system);
    mkdirSync(dir, { recursive: true });
    const rec: LabSystemRecord = { system, ip, netns: 'n', veth: 'v', pid: 1, start: '1', log: 'l', hostKey: 'k' };
    writeFileSync(join(dir, 'system.json'), JSON.stringify(rec));
    if (mtime) utimesSync(join(dir, 'system.json'), mtime, mtime);
  };

  it('sees a record rewritten or removed since the last read (records it read before are only kept while unchanged)', () => {
    expect(readLabSystems(root)).toEqual([]);
    write('a', '198.51.100.10', new Date(2026, 0, 1));
    write('b', '198.51.100.11');
    expect(readLabSystems(root).map((r) => `${r.system} ${r.ip}`)).toEqual(['a 198.51.100.10', 'b 198.51.100.11']);
    // The same size, another time: a system moved to another address of the same length.
    write('a', '198.51.100.12', new Date(2026, 0, 2));
    rmSync(join(root, '.lab', 'systems', 'b', 'system.json'));
    expect(readLabSystems(root).map((r) => `${r.system} ${r.ip}`)).toEqual(['a 198.51.100.12']);
  });
});
