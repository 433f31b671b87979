import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readStateFile, removeStateFileAsync, shape, writeFileAtomicAsync, writeJsonAtomic } from './state-file';

const dir = () => mkdtempSync(join(tmpdir(), 'shipshape-state-'));
const check = (v: unknown) => shape.strings(v, ['system']);

describe('state files', () => {
  it('writes atomically (no temp file left) and reads back what it wrote', () => {
    const d = dir();
    writeJsonAtomic(join(d, 'a.json'), { system: 'web-01' });
    expect(readdirSync(d)).toEqual(['a.json']);
    expect(readStateFile(join(d, 'a.json'), check)).toEqual({ status: 'ok', value: { system: 'web-01' } });
    expect(readStateFile(join(d, 'b.json'), check)).toEqual({ status: 'missing' });
  });

  it('writes off the event loop into a folder made on first use, and again after someone removed it', async () => {
    const d = join(dir(), 'journal', 'vm');
    await writeFileAtomicAsync(join(d, 'web-01.json'), '{"system":"web-01"}');
    expect(readdirSync(d)).toEqual(['web-01.json']);
    rmSync(d, { recursive: true });
    await writeFileAtomicAsync(join(d, 'web-02.json'), '{"system":"web-02"}', 0o600);
    expect(readdirSync(d)).toEqual(['web-02.json']);
    expect(readFileSync(join(d, 'web-02.json'), 'utf8')).toBe('{"system":"web-02"}');
    await removeStateFileAsync(join(d, 'web-02.json'));
    expect(readdirSync(d)).toEqual([]);
  });

  it.each([
    ['{garbage', /not valid JSON/],
    ['[1, 2]', /not a JSON object/],
    ['{"system": 7}', /field system missing or not text/],
  ])('moves a corrupt file (%s) aside, keeps its bytes, and says what was wrong', (text, why) => {
    const d = dir();
    writeFileSync(join(d, 'a.json'), text);
    const r = readStateFile(join(d, 'a.json'), check);
    expect(r).toMatchObject({
      status: 'corrupt',
      reason: expect.stringMatching(why),
      movedTo: expect.stringMatching(/a\.json\.corrupt-\d{4}-/),
    });
    expect(readdirSync(d)).toEqual([expect.stringMatching(/^a\.json\.corrupt-/)]);
    expect(readFileSync((r as { movedTo: string }).movedTo, 'utf8')).toBe(text);
    expect(readStateFile(join(d, 'a.json'), check)).toEqual({ status: 'missing' });
  });
});
