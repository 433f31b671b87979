/** ajv errors become one plain sentence per problem, at the node, without secrets. */
import { displayPath, pointerToPath, suggest } from '../../src/manifest/ajv-messages';
import { formatDiagnostic } from '../../src/manifest';
import { SITE, cleanupRepos, lines, load, system } from './tmp-repo';

afterAll(cleanupRepos);

describe('schema messages', () => {
  it('formats a diagnostic as file:line:col: severity: message', () => {
    expect(formatDiagnostic({ file: 'systems/a.yaml', line: 3, col: 9, severity: 'error', message: 'boom' })).toBe(
      'systems/a.yaml:3:9: error: boom',
    );
  });

  it('names paths the way an operator reads them', () => {
    expect(displayPath(pointerToPath('/spec/disks/0/sizeGiB'))).toBe('spec.disks[0].sizeGiB');
    expect(displayPath(pointerToPath('/spec/a~1b'))).toBe('spec.a/b');
  });

  it('suggests a key only when it is plausibly a typo', () => {
    expect(suggest('memroyMiB', ['cpu', 'memoryMiB', 'disks'])).toBe('memoryMiB');
    expect(suggest('colour', ['cpu', 'memoryMiB', 'disks'])).toBeUndefined();
  });

  it('an over-indented line is reported at that line, not at the key above it', async () => {
    const r = await load({ 'systems/web-01.yaml': system('web-01', 'profile: base', 'cpu: 2', ' memoryMiB: 4096') });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:8:4: YAML indentation: this line is indented differently from the key on line 7, so YAML reads both lines as one key; indent it exactly like the keys beside it',
    ]);
  });

  it('one sentence per value, with what it must be and what it got', async () => {
    const r = await load({
      'systems/web-01.yaml': system(
        'web-01',
        'profile: base',
        'cpu: "four"',
        'disks: [{ sizeGiB: 1.5 }]',
        'lifecycle: { protect: "yes" }',
      ),
    });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:7:8: spec.cpu must be a whole number from 1 to 128, got "four"',
      'systems/web-01.yaml:8:22: spec.disks[0].sizeGiB must be a whole number of GiB from 1 to 62000, got 1.5',
      'systems/web-01.yaml:9:25: spec.lifecycle.protect must be true or false, got "yes"',
    ]);
  });

  it('a missing key is reported at its parent’s key; at the top level at the document start', async () => {
    const r = await load({
      'systems/web-01.yaml': system('web-01', 'profile: base', 'disks:', '  - datastore: LocalDS_0'),
      'profiles/x.yaml': 'kind: Profile\nmetadata: { name: x }\nspec: {}\n',
    });
    expect(lines(r)).toEqual([
      'profiles/x.yaml:1:1: missing required key `apiVersion` at the top level',
      'systems/web-01.yaml:8:7: spec.disks[0] is missing required key `sizeGiB`',
    ]);
  });

  it('an unknown key without a near miss lists the allowed keys', async () => {
    const r = await load({ 'systems/web-01.yaml': system('web-01', 'profile: base', 'network: { vlan: 12 }') });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:7:14: unknown key `vlan` in spec.network (allowed keys: `net`, `ip`, `mac`, `portgroup`)',
    ]);
  });

  it('a secret field never shows its value, even when it has the wrong type', async () => {
    const site = SITE.replace('apiKey: ${env:SHIPSHAPE_IDOIT_API_KEY}', 'apiKey: 987654321');
    const r = await load({ 'shipshape.yaml': site, 'systems/web-01.yaml': system('web-01', 'profile: base') });
    expect(lines(r)).toEqual([
      'shipshape.yaml:10:13: spec.ipam.apiKey must be a secret reference `${env:NAME}` or `${file:PATH}` (never the secret itself), it holds a literal value: move the secret to an environment variable or a file',
    ]);
  });

  it('a secret reference missing its closing brace is said to be a broken reference, still without the value', async () => {
    const site = SITE.replace('apiKey: ${env:SHIPSHAPE_IDOIT_API_KEY}', 'apiKey: ${env:SHIPSHAPE_IDOIT_API_KEY');
    const r = await load({ 'shipshape.yaml': site, 'systems/web-01.yaml': system('web-01', 'profile: base') });
    expect(lines(r)).toEqual([
      'shipshape.yaml:10:13: spec.ipam.apiKey must be a secret reference `${env:NAME}` or `${file:PATH}` (never the secret itself), it starts like a reference but is not one: write `${env:NAME}` or `${file:PATH}` (a closing `}` missing?)',
    ]);
  });

  it('names repeated list entries and points an empty value at its key', async () => {
    const r = await load({
      'systems/web-01.yaml': system('web-01', 'profile: base', 'dns: { aliases: [shop, www, shop] }'),
      'systems/web-02.yaml': 'apiVersion: shipshape.dev/v1\nkind: System\nmetadata: { name: web-02 }\nspec:\n',
    });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:7:19: spec.dns.aliases must be a list of distinct DNS names, but entries 0 and 2 are the same',
      'systems/web-02.yaml:4:1: spec must be a map, got nothing',
    ]);
  });

  it('keeps every message on one line, whatever the operator typed', async () => {
    const r = await load({
      'systems/web-01.yaml': system('web-01', 'profile: base', `"cpu\\nerror: fake": 2`, `${'x'.repeat(200)}: 1`),
    });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:7:3: unknown key `cpu\\nerror: fake` in spec (allowed keys: `state`, `profile`, `site`, `placement`, `cpu`, `memoryMiB`, `disks`, `network`, `dns`, `os`, `roles`, `lifecycle`)',
      `systems/web-01.yaml:8:3: unknown key \`${'x'.repeat(57)}...\` in spec (allowed keys: \`state\`, \`profile\`, \`site\`, \`placement\`, \`cpu\`, \`memoryMiB\`, \`disks\`, \`network\`, \`dns\`, \`os\`, \`roles\`, \`lifecycle\`)`,
    ]);
  });

  it('a value under the wrong kind of file says what the folder expects', async () => {
    const r = await load({
      'systems/web-01.yaml': system('web-01', 'profile: base').replace('kind: System', 'kind: system'),
    });
    expect(lines(r)).toEqual([
      'systems/web-01.yaml:2:7: kind must be `System` (files under systems/ declare systems), got "system"',
    ]);
  });
});
