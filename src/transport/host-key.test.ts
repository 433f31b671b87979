import { createHmac, randomBytes } from 'node:crypto';
import { parseKnownHosts } from './host-key';

const blob = (t: string) => {
  const b = Buffer.alloc(4 + t.length + 4);
  b.writeUInt32BE(t.length, 0);
  b.write(t, 4);
  return b.toString('base64');
};

test('known_hosts: plain, [host]:port, hashed, wildcard, negated and @revoked entries', () => {
  const salt = randomBytes(20);
  const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[10.0.0.5]:2222').digest('base64')}`;
  const text = [
    '# comment',
    `[10.0.0.5]:2222 ssh-ed25519 ${blob('ssh-ed25519')}`,
    `10.0.0.5 ssh-rsa ${blob('ssh-rsa')}`,
    `${hashed} ecdsa-sha2-nistp256 ${blob('ecdsa-sha2-nistp256')}`,
    `*.example.test,!bad.example.test ssh-ed25519 ${blob('ssh-ed25519')}`,
    `@revoked [10.0.0.5]:2222 ssh-ed25519 ${blob('x')}`,
    `@cert-authority * ssh-ed25519 ${blob('ca')}`,
  ].join('\n');
  expect(parseKnownHosts(text, '10.0.0.5', 2222).map((k) => [k.type, k.revoked])).toEqual([
    ['ssh-ed25519', false],
    ['ecdsa-sha2-nistp256', false],
    ['ssh-ed25519', true],
  ]);
  expect(parseKnownHosts(text, '10.0.0.5', 22).map((k) => k.type)).toEqual(['ssh-rsa']);
  expect(parseKnownHosts(text, 'a.example.test', 22)).toHaveLength(1);
  expect(parseKnownHosts(text, 'bad.example.test', 22)).toHaveLength(0);
});
