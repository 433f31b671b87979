import { chmodSync, readFileSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SshCommandError, SshConfigError, SshConnectError, SshHostKeyError, SshPool } from '../../src/transport/ssh';
import { freePort, removeDir } from '../helpers/daemon';
import { keygen, readFileSecret, startSshd, type TestSshd } from '../helpers/sshd';

let sshd: TestSshd;
let pool: SshPool;

beforeAll(async () => {
  sshd = await startSshd();
  pool = new SshPool({ readSecret: readFileSecret, root: sshd.dir, connectTimeoutMs: 5000 });
});
afterAll(async () => {
  await pool?.closeAll();
  await sshd?.stop();
  if (sshd) removeDir(sshd.dir);
});

test('exec returns stdout, stderr and exit code; a failing command throws with the code and stderr tail', async () => {
  const s = await pool.get(sshd.endpoint());
  const ok = await s.exec('echo out; echo err >&2');
  expect(ok).toEqual({ code: 0, signal: null, stdout: 'out\n', stderr: 'err\n' });
  const err = await s.exec('echo first >&2; echo "broken thing" >&2; exit 7', { label: 'check' }).catch((e) => e);
  expect(err).toBeInstanceOf(SshCommandError);
  expect(err.code).toBe(7);
  expect(err.message).toMatch(/check exited 7:\nfirst\nbroken thing/);
  expect((await s.exec('exit 3', { okCodes: [3] })).code).toBe(3);
  expect((await s.exec('wc -c', { stdin: 'hello\n' })).stdout.trim()).toBe('6');
});

test('a command that runs too long is abandoned with a timeout error', async () => {
  const s = await pool.get(sshd.endpoint());
  const err = await s.exec('sleep 30', { timeoutMs: 300, label: 'slow' }).catch((e) => e);
  expect(err).toBeInstanceOf(SshCommandError);
  expect(err.timedOut).toBe(true);
  expect(err.message).toMatch(/slow timed out/);
  expect((await s.exec('echo still usable')).stdout).toBe('still usable\n');
});

test('the connection is reused within a run', async () => {
  const a = await pool.get(sshd.endpoint());
  const b = await pool.get(sshd.endpoint());
  expect(b).toBe(a);
  const pids = new Set<string>();
  for (let i = 0; i < 3; i++) pids.add((await a.exec('echo $PPID')).stdout);
  // one sshd session process serves every exec of the pooled connection
  expect(pids.size).toBe(1);
});

test('readFile returns the exact bytes; a missing file is undefined only when that is allowed', async () => {
  const s = await pool.get(sshd.endpoint());
  const dir = join(sshd.dir, 'remote-read');
  await s.exec(`mkdir -p ${dir}`);
  // Larger than one SFTP read, with bytes that are not UTF-8: what the deploy's sha256 guard compares.
  const bytes = Buffer.concat([Buffer.from([0xff, 0x00, 0xfe]), Buffer.alloc(300_000, 'zone line\n')]);
  writeFileSync(join(dir, 'zone'), bytes);
  expect((await s.readFile(join(dir, 'zone')))!.equals(bytes)).toBe(true);
  expect(await s.readFile(join(dir, 'absent'), { missingOk: true })).toBeUndefined();
  const err = await s.readFile(join(dir, 'absent')).catch((e) => e);
  expect(err).toBeInstanceOf(SshCommandError);
  expect(err.message).toMatch(/SFTP read of .*absent failed:\n.*absent: no such file/);
});

test('upload writes to a temp name and renames into place with the mode', async () => {
  const s = await pool.get(sshd.endpoint());
  const dir = join(sshd.dir, 'remote');
  await s.exec(`mkdir -p ${dir}`);
  const target = join(dir, 'file.conf');
  writeFileSync(target, 'old\n');
  await s.upload(target, 'new content\n', 0o640);
  expect(readFileSync(target, 'utf8')).toBe('new content\n');
  expect(statSync(target).mode & 0o777).toBe(0o640);
  expect(readdirSync(dir)).toEqual(['file.conf']);
});

test('known_hosts: the listed key is accepted', async () => {
  const p = new SshPool({ readSecret: readFileSecret, root: sshd.dir });
  const s = await p.get(sshd.endpoint({ hostKeyFingerprint: undefined, knownHosts: 'known_hosts' }));
  expect((await s.exec('echo ok')).stdout).toBe('ok\n');
  await p.closeAll();
});

test('a changed or unknown host key is refused, never accepted', async () => {
  const other = keygen(join(sshd.dir, 'other_key'), 'impostor');
  const wrongFp = (await import('../helpers/sshd')).fingerprintOfPubLine(other);
  const p = new SshPool({ readSecret: readFileSecret, root: sshd.dir });
  const pinned = await p.get(sshd.endpoint({ hostKeyFingerprint: wrongFp })).catch((e) => e);
  expect(pinned).toBeInstanceOf(SshHostKeyError);
  expect(pinned.message).toContain(sshd.hostFingerprint);
  expect(pinned.message).toContain(`does not match the pinned fingerprint ${wrongFp}`);

  writeFileSync(join(sshd.dir, 'kh-changed'), `[127.0.0.1]:${sshd.port} ${other}\n`);
  const changed = await p
    .get(sshd.endpoint({ hostKeyFingerprint: undefined, knownHosts: 'kh-changed' }))
    .catch((e) => e);
  expect(changed).toBeInstanceOf(SshHostKeyError);
  expect(changed.message).toMatch(/not the key listed/);

  writeFileSync(join(sshd.dir, 'kh-other-host'), `[127.0.0.9]:${sshd.port} ${other}\n`);
  const unknown = await p
    .get(sshd.endpoint({ hostKeyFingerprint: undefined, knownHosts: 'kh-other-host' }))
    .catch((e) => e);
  expect(unknown).toBeInstanceOf(SshHostKeyError);
  expect(unknown.message).toMatch(/has no key for \[127\.0\.0\.1\]/);

  const none = await p.get(sshd.endpoint({ hostKeyFingerprint: undefined })).catch((e) => e);
  expect(none).toBeInstanceOf(SshHostKeyError);
  await p.closeAll();
});

test('a key the server does not accept, and a closed port, give clear typed errors', async () => {
  keygen(join(sshd.dir, 'stranger'), 'stranger');
  const p = new SshPool({ readSecret: readFileSecret, root: sshd.dir, connectTimeoutMs: 3000 });
  const auth = await p
    .get(sshd.endpoint({ privateKey: { ref: `\${file:${join(sshd.dir, 'stranger')}}` } }))
    .catch((e) => e);
  expect(auth).toBeInstanceOf(SshConfigError);
  expect(auth.message).toMatch(/refused our key/);
  expect(auth.message).not.toContain(readFileSync(join(sshd.dir, 'stranger'), 'utf8').split('\n')[1]);
  const closed = await p.get(sshd.endpoint({ port: await freePort() })).catch((e) => e);
  expect(closed).toBeInstanceOf(SshConnectError);
  expect(closed.message).toMatch(/: connection refused \(ECONNREFUSED\): no SSH server listens there \(3 attempts\)$/);
  expect(existsSync(sshd.clientKeyPath)).toBe(true);
  await p.closeAll();
});

test('a private key file other users may read is refused before use, naming the file and the chmod, as OpenSSH does', async () => {
  const key = join(sshd.dir, 'open_key');
  writeFileSync(key, readFileSync(sshd.clientKeyPath), { mode: 0o600 });
  chmodSync(key, 0o644);
  const p = new SshPool({ readSecret: readFileSecret, root: sshd.dir, connectTimeoutMs: 3000, connectAttempts: 1 });
  try {
    const open = await p.get(sshd.endpoint({ privateKey: { ref: `\${file:${key}}` } })).catch((e) => e);
    expect(open).toBeInstanceOf(SshConfigError);
    expect(open.message).toBe(
      `ssh ${sshd.endpoint().user}@127.0.0.1:${sshd.port}: the private key ${key} (\${file:${key}}) may be read by other users (mode 0644); OpenSSH refuses such a key too: chmod 600 ${key}`,
    );
    // After the chmod the same key logs in.
    chmodSync(key, 0o600);
    const s = await p.get(sshd.endpoint({ privateKey: { ref: `\${file:${key}}` } }));
    expect((await s.exec('echo in')).stdout).toBe('in\n');
  } finally {
    await p.closeAll();
  }
});

test('a server that drops the first connection (busy for a moment) is connected on the next attempt', async () => {
  // A TCP front that closes the first connection at once and forwards the later ones to the real sshd.
  const { createServer, connect } = await import('node:net');
  let seen = 0;
  const front = createServer((client) => {
    if (++seen === 1) return client.destroy();
    const upstream = connect(sshd.endpoint().port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const port = (front.address() as { port: number }).port;
  const p = new SshPool({ readSecret: readFileSecret, root: sshd.dir, connectTimeoutMs: 5000 });
  try {
    const s = await p.get(sshd.endpoint({ port }));
    expect((await s.exec('echo up')).stdout).toBe('up\n');
    expect(seen).toBe(2);
    // With one attempt the same drop is the error it always was.
    seen = 0;
    const once = new SshPool({
      readSecret: readFileSecret,
      root: sshd.dir,
      connectTimeoutMs: 5000,
      connectAttempts: 1,
    });
    await expect(once.get(sshd.endpoint({ port }))).rejects.toBeInstanceOf(SshConnectError);
    await once.closeAll();
    // So does a pool of three attempts asked for one (a read that only reports what it finds).
    seen = 0;
    const three = new SshPool({ readSecret: readFileSecret, root: sshd.dir, connectTimeoutMs: 5000 });
    await expect(three.get(sshd.endpoint({ port }), undefined, { attempts: 1 })).rejects.toBeInstanceOf(
      SshConnectError,
    );
    expect(seen).toBe(1);
    await three.closeAll();
  } finally {
    await p.closeAll();
    front.close();
  }
}, 30_000);
