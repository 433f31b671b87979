import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../test/helpers/tmp';
import { readStateFile, removeStateFileAsync, shape, writeFileAtomicAsync, writeJsonAtomic } from './state-file';

const dir = () => tempDir('shipshape-state-');
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

  it('many writes and removals in one folder at once all land (they share directory fsyncs)', async () => {
    const d = join(dir(), 'journal', 'ip');
    const names = Array.from({ length: 60 }, (_, i) => `sys-${String(i).padStart(2, '0')}`);
    await Promise.all(names.map((n) => writeFileAtomicAsync(join(d, `${n}.json`), `{"system":"${n}"}`)));
    // Removals of the even ones race rewrites of the odd ones; every promise resolves, none is lost.
    await Promise.all(
      names.map((n, i) =>
        i % 2
          ? writeFileAtomicAsync(join(d, `${n}.json`), `{"system":"${n}","v":2}`)
          : removeStateFileAsync(join(d, `${n}.json`)),
      ),
    );
    const odd = names.filter((_, i) => i % 2);
    expect(readdirSync(d).sort()).toEqual(odd.map((n) => `${n}.json`));
    for (const n of odd) expect(JSON.parse(readFileSync(join(d, `${n}.json`), 'utf8'))).toEqual({ system: n, v: 2 });
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
