/** A secret file every user may read is named once, with where the site names it and the chmod that mends it. */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir } from '../../test/helpers/daemon';
import type { SiteConfig } from '../manifest/site';
import { openSecretFileWarnings } from './secret-files';

test('a world-readable secret file is warned about once, at each place the site names it; a private one is not', () => {
  const root = tempDir('secret-files');
  try {
    mkdirSync(join(root, 'secrets'));
    writeFileSync(join(root, 'secrets', 'idoit.key'), 'k\n');
    chmodSync(join(root, 'secrets', 'idoit.key'), 0o644);
    writeFileSync(join(root, 'secrets', 'tsig'), 's\n', { mode: 0o600 });
    writeFileSync(
      join(root, 'shipshape.yaml'),
      'spec:\n  ipam: { apiKey: "${file:secrets/idoit.key}" }\n  cmdb: { apiKey: "${file:secrets/idoit.key}" }\n  dns: { tsig: "${file:secrets/tsig}" }\n',
    );
    const site = {
      root,
      ipam: { backend: 'idoit', apiKey: { ref: '${file:secrets/idoit.key}' } },
      cmdb: { backend: 'idoit', apiKey: { ref: '${file:secrets/idoit.key}' } },
      dns: { zones: [{ tsig: { secret: { ref: '${file:secrets/tsig}' } } }] },
      // A reference to a file that is not there is the secret reader's error, not a warning here.
      vms: { backend: 'vsphere', password: { ref: '${file:secrets/missing}' } },
      // An SSH key others can read is refused by the SSH transport, with its own error.
      specialise: { privateKey: { ref: '${file:secrets/idoit.key}' } },
    } as unknown as SiteConfig;
    const key = join(root, 'secrets', 'idoit.key');
    expect(openSecretFileWarnings(site)).toEqual([
      `warning: secret file ${key} (\${file:secrets/idoit.key}, shipshape.yaml:2:20, shipshape.yaml:3:20) may be read by every user of this host (mode 0644): chmod 600 ${key}, and change the secret if others could read it`,
    ]);
    chmodSync(key, 0o640); // group-readable is a choice (a service group), not a leak to everyone
    expect(openSecretFileWarnings(site)).toEqual([]);
  } finally {
    removeDir(root);
  }
});
