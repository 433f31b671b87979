/** shipshape.yaml's `idoit.emulator` (which add-on the lab's emulator plays) is for lab sites only, and typed. */
import { SITE, cleanupRepos, lines, load } from '../manifest/tmpRepo';

afterAll(cleanupRepos);

const withEmulator = (value: string) => SITE.replace('    reserved: { dev-net: [198.51.100.10] }\n', `    reserved: { dev-net: [198.51.100.10] }\n    emulator: ${value}\n`);

it('is refused outside a lab, accepted in one', async () => {
  const site = withEmulator('{ apiVersion: "1.10", quickPurge: true }');
  const refused = lines(await load({ 'shipshape.yaml': site })).filter((l) => !l.includes('warning:'));
  expect(refused).toHaveLength(1);
  expect(refused[0]).toMatch(/^shipshape\.yaml:\d+:\d+: idoit\.emulator configures the lab's i-doit emulator; a real site talks to its i-doit and sets no emulator, or sets lab: true$/);
  const lab = await load({ 'shipshape.yaml': site.replace('spec:\n', 'spec:\n  lab: true\n') });
  expect(lab.ok).toBe(true);
  expect(lab.site?.idoit?.emulator).toEqual({ apiVersion: '1.10', quickPurge: true });
});

it('names the add-on versions the emulator plays', async () => {
  const bad = lines(await load({ 'shipshape.yaml': withEmulator('{ apiVersion: "1.9" }').replace('spec:\n', 'spec:\n  lab: true\n') }));
  expect(bad.join('\n')).toMatch(/idoit\.emulator\.apiVersion/);
  expect(bad.join('\n')).toMatch(/1\.10/);
});
