/** The lab's in-process host keys are keys OpenSSH reads: ssh-keygen derives the same public key from the private file. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newHostKey } from './host-key';

test('ssh-keygen reads the private key and derives the public line reported with it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shipshape-hostkey-'));
  try {
    for (const comment of ['web-01', 'a-much-longer-system-name-07']) {
      const k = newHostKey(comment);
      const file = join(dir, `key-${comment}`);
      writeFileSync(file, k.privateKey, { mode: 0o600 });
      const derived = execFileSync('/usr/bin/ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim();
      expect(derived.split(' ').slice(0, 2)).toEqual(k.publicLine.split(' ').slice(0, 2));
      expect(k.publicLine).toMatch(new RegExp(`^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\\S+ ${comment}$`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
