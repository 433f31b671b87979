/**
 * SSH transport shared by every remote step (DNS zone files, DHCP configs, later specialisation).
 * One connection per endpoint per run (SshPool), host keys always verified, a timeout on connect and
 * on every command, and errors that carry the exit code and the tail of stderr.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { Client, type ClientChannel, type SFTPWrapper } from 'ssh2';
import { TransientError, UserError } from '../engine/contract';
import type { SecretRef, SshEndpoint } from '../manifest/site';
import { secretFilePath } from '../manifest/secrets';
import { heard } from '../net/activity';
import { fingerprint, fingerprintPolicy, keyType, knownHostsPolicy, type HostKeyPolicy } from './host-key';

/** SFTP status SSH_FX_NO_SUCH_FILE (draft-ietf-secsh-filexfer-02 §7), as ssh2 reports it in `err.code`. */
const NO_SUCH_FILE = 2;

/** Reads a secret at the moment it is needed; the value is never logged or put in an error. */
export type SecretReader = (ref: SecretRef) => Promise<string>;

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Milliseconds before the command is abandoned (default 60 s). */
  timeoutMs?: number;
  stdin?: string | Buffer;
  /** Exit codes that are not an error (default [0]). */
  okCodes?: number[];
  /** A short name for messages instead of the whole command (scripts are long). */
  label?: string;
}

export function endpointName(e: Pick<SshEndpoint, 'user' | 'host' | 'port'>): string {
  return `${e.user}@${e.host}:${e.port}`;
}

/** Single-quote for a POSIX shell. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The last lines of a command's stderr (or stdout when stderr is empty), for error messages. */
export function tail(text: string, lines = 20, chars = 2500): string {
  const t = text.trimEnd().split('\n').slice(-lines).join('\n');
  return t.length > chars ? '…' + t.slice(-chars) : t;
}

/** A remote command failed: exit code (or signal, or timeout) and the tail of its stderr. */
export class SshCommandError extends Error {
  override readonly name = 'SshCommandError';
  constructor(
    readonly endpoint: string,
    readonly label: string,
    readonly code: number | null,
    readonly signal: string | null,
    readonly stderrTail: string,
    readonly timedOut = false,
  ) {
    const how = timedOut
      ? 'timed out'
      : code !== null
        ? `exited ${code}`
        : signal
          ? `was killed by ${signal}`
          : 'failed';
    super(`ssh ${endpoint}: ${label} ${how}${stderrTail ? `:\n${stderrTail}` : ''}`);
  }
}

/** The server's host key is unknown, changed or revoked: never accepted silently. */
export class SshHostKeyError extends UserError {
  readonly code = 'SSH_HOST_KEY';
}

/** Authentication or configuration problems the operator must fix (not retried). */
export class SshConfigError extends UserError {
  readonly code = 'SSH_CONFIG';
}

/** Connection refused/reset/timed out: the engine may retry. */
export class SshConnectError extends TransientError {
  readonly code = 'SSH_CONNECT';
}

function policyFor(e: SshEndpoint, root: string): HostKeyPolicy {
  try {
    if (e.hostKeyFingerprint) return fingerprintPolicy(e.hostKeyFingerprint);
    if (e.knownHosts)
      return knownHostsPolicy(
        posix.isAbsolute(e.knownHosts) ? e.knownHosts : posix.join(root, e.knownHosts),
        e.host,
        e.port,
      );
  } catch (err) {
    throw new SshHostKeyError(`ssh ${endpointName(e)}: ${(err as Error).message}`);
  }
  throw new SshHostKeyError(
    `ssh ${endpointName(e)}: set hostKeyFingerprint or knownHosts; shipshape never accepts an unverified host key`,
  );
}

export class SshSession {
  private sftpP: Promise<SFTPWrapper> | undefined;
  closed = false;

  constructor(
    readonly name: string,
    private readonly conn: Client,
  ) {
    conn.on('close', () => (this.closed = true));
  }

  /** Runs a command; throws SshCommandError unless its exit code is in okCodes. */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const label = opts.label ?? JSON.stringify(command.length > 80 ? command.slice(0, 77) + '...' : command);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const okCodes = opts.okCodes ?? [0];
    return new Promise((resolve, reject) => {
      this.conn.exec(command, (err, stream: ClientChannel) => {
        if (err) return reject(new SshConnectError(`ssh ${this.name}: cannot start ${label}: ${err.message}`, err));
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        let code: number | null = null;
        let signal: string | null = null;
        let done = false;
        const timer = setTimeout(() => {
          done = true;
          try {
            stream.signal('KILL');
          } catch {
            /* the server may not support signals */
          }
          stream.close();
          reject(new SshCommandError(this.name, label, null, null, tail(Buffer.concat(errs).toString()), true));
        }, timeoutMs);
        stream.on('exit', (c: number | null, s?: string) => {
          code = c;
          signal = s ?? null;
        });
        stream.on('data', (d: Buffer) => {
          heard();
          out.push(d);
        });
        stream.stderr.on('data', (d: Buffer) => {
          heard();
          errs.push(d);
        });
        stream.on('close', () => {
          clearTimeout(timer);
          if (done) return;
          const r = { code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(errs).toString() };
          if (r.code !== null && okCodes.includes(r.code)) resolve(r);
          else reject(new SshCommandError(this.name, label, r.code, r.signal, tail(r.stderr || r.stdout)));
        });
        if (opts.stdin !== undefined) stream.end(opts.stdin);
        else stream.end();
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpP ??= new Promise((resolve, reject) =>
      this.conn.sftp((err, s) =>
        err ? reject(new SshConnectError(`ssh ${this.name}: SFTP unavailable: ${err.message}`, err)) : resolve(s),
      ),
    );
    return this.sftpP;
  }

  /**
   * A file's bytes over SFTP: no shell and no process on the server (an exec costs a session with a
   * shell and its commands; every read of a run shares this session's one SFTP channel). `missingOk`:
   * a file that does not exist reads as undefined (SSH_FX_NO_SUCH_FILE, draft-ietf-secsh-filexfer-02
   * §7); any other failure throws.
   */
  async readFile(path: string, opts: { missingOk?: boolean; timeoutMs?: number } = {}): Promise<Buffer | undefined> {
    const sftp = await this.sftp();
    const timeoutMs = opts.timeoutMs ?? 60_000;
    return new Promise<Buffer | undefined>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new SshCommandError(this.name, `SFTP read of ${path}`, null, null, '', true)),
        timeoutMs,
      );
      sftp.readFile(path, (err: (Error & { code?: unknown }) | null | undefined, data: Buffer) => {
        clearTimeout(timer);
        heard();
        if (!err) resolve(data);
        else if (err.code === NO_SUCH_FILE && opts.missingOk) resolve(undefined);
        else
          reject(
            new SshCommandError(
              this.name,
              `SFTP read of ${path}`,
              null,
              null,
              err.code === NO_SUCH_FILE ? `${path}: no such file` : err.message,
            ),
          );
      });
    });
  }

  /** Writes content to a fresh temporary name beside `path` and returns that name. */
  async uploadTemp(path: string, content: string | Buffer, mode = 0o644, timeoutMs = 60_000): Promise<string> {
    const tmp = posix.join(posix.dirname(path), `.${posix.basename(path)}.shipshape-${randomBytes(4).toString('hex')}`);
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new SshCommandError(this.name, `SFTP upload of ${tmp}`, null, null, '', true)),
        timeoutMs,
      );
      sftp.writeFile(tmp, content, { mode }, (err) => {
        clearTimeout(timer);
        if (err) reject(new SshCommandError(this.name, `SFTP upload of ${tmp}`, null, null, err.message));
        else resolve();
      });
    });
    return tmp;
  }

  /** Atomic replace on the server (posix-rename@openssh.com, `mv -f` when the server lacks it). */
  async rename(from: string, to: string): Promise<void> {
    const sftp = await this.sftp();
    const ok = await new Promise<boolean>((resolve) => {
      try {
        sftp.ext_openssh_rename(from, to, (err) => resolve(!err));
      } catch {
        resolve(false);
      }
    });
    if (!ok) await this.exec(`mv -f ${shq(from)} ${shq(to)}`, { label: `mv ${from} ${to}`, timeoutMs: 30_000 });
  }

  /** Upload to a temporary name, then rename over `path`: readers never see a half-written file. */
  async upload(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const tmp = await this.uploadTemp(path, content, mode);
    try {
      await this.rename(tmp, path);
    } catch (e) {
      await this.exec(`rm -f ${shq(tmp)}`, { okCodes: [0, 1] }).catch(() => undefined);
      throw e;
    }
  }

  /** A byte stream to a unix socket on the server (direct-streamlocal), e.g. Kea's control socket. */
  openUnixSocket(socketPath: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) =>
      this.conn.openssh_forwardOutStreamLocal(socketPath, (err, stream) =>
        err
          ? reject(new SshCommandError(this.name, `open unix socket ${socketPath}`, null, null, err.message))
          : resolve(stream),
      ),
    );
  }

  close(): void {
    this.closed = true;
    this.conn.end();
  }
}

export interface SshPoolOptions {
  readSecret: SecretReader;
  /** Repo root: relative knownHosts paths are resolved against it. */
  root: string;
  connectTimeoutMs?: number;
  /**
   * Attempts for a connection that is refused, reset or gets no handshake in time (default 3, with
   * 1 s and 2 s between them). Connecting changes nothing on the server, so it is always safe to
   * repeat; a DNS or DHCP server that is busy for a moment must not fail a whole plan. Host key and
   * authentication refusals are never repeated.
   */
  connectAttempts?: number;
}

/**
 * A private key file that others may read is refused before it is read, as OpenSSH refuses it (a key file
 * of this user with any group or other permission bit: sshkey_perm_ok in OpenSSH's authfile.c).
 */
async function refuseOpenKeyFile(name: string, ref: SecretRef, root: string): Promise<void> {
  const file = secretFilePath(ref.ref, root);
  if (file === undefined || process.getuid === undefined) return;
  // A file that cannot be stat'ed is left to the secret reader, which says why it cannot be read.
  const st = await stat(file).catch(() => undefined);
  if (!st || st.uid !== process.getuid() || (st.mode & 0o077) === 0) return;
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  throw new SshConfigError(
    `ssh ${name}: the private key ${file} (${ref.ref}) may be read by other users (mode ${mode}); OpenSSH refuses such a key too: chmod 600 ${file}`,
  );
}

/** Connections keyed by endpoint, reused within a run; closeAll() at the end of the run. */
export class SshPool {
  private readonly sessions = new Map<string, Promise<SshSession>>();
  constructor(private readonly opts: SshPoolOptions) {}

  /**
   * `hostKey` overrides the endpoint's own fingerprint/known_hosts (a key learned at install time).
   * `attempts` overrides `connectAttempts` for this connection: a read that only reports what it finds
   * (specialisation's observe of a host that may be at its new address only after the apply) takes
   * one attempt instead of waiting out the backoff.
   */
  get(e: SshEndpoint, hostKey?: HostKeyPolicy, o: { attempts?: number } = {}): Promise<SshSession> {
    // A session verified under one host key policy is never handed out under another.
    const key = hostKey ? `${endpointName(e)} ${hostKey.describe}` : endpointName(e);
    const existing = this.sessions.get(key);
    if (existing) {
      return existing.then((s) => {
        if (!s.closed) return s;
        this.sessions.delete(key);
        return this.get(e, hostKey, o);
      });
    }
    const p = this.connectRepeating(e, hostKey, o.attempts);
    this.sessions.set(key, p);
    p.catch(() => this.sessions.delete(key));
    return p;
  }

  private async connectRepeating(e: SshEndpoint, hostKey?: HostKeyPolicy, tries?: number): Promise<SshSession> {
    const attempts = Math.max(1, tries ?? this.opts.connectAttempts ?? 3);
    for (let n = 1; ; n++) {
      try {
        return await this.connect(e, hostKey);
      } catch (err) {
        if (!(err instanceof SshConnectError) || n >= attempts) {
          if (err instanceof SshConnectError && attempts > 1) err.message += ` (${attempts} attempts)`;
          throw err;
        }
        await new Promise((r) => setTimeout(r, 1000 * 2 ** (n - 1)));
      }
    }
  }

  private async connect(e: SshEndpoint, hostKey?: HostKeyPolicy): Promise<SshSession> {
    const name = endpointName(e);
    const policy = hostKey ?? policyFor(e, this.opts.root);
    await refuseOpenKeyFile(name, e.privateKey, this.opts.root);
    const privateKey = await this.opts.readSecret(e.privateKey);
    let refusal: string | undefined;
    const conn = new Client();
    return new Promise<SshSession>((resolve, reject) => {
      conn.on('ready', () => resolve(new SshSession(name, conn)));
      conn.on('error', (err: Error & { level?: string; code?: string }) => {
        conn.end();
        if (refusal)
          reject(
            new SshHostKeyError(
              `ssh ${name}: host key refused: ${refusal}. If the server's key changed on purpose, update ${policy.describe}; otherwise treat it as an attack`,
            ),
          );
        else if (err.level === 'client-authentication')
          reject(
            new SshConfigError(
              `ssh ${name}: the server refused our key (${err.message}); check the user and that the key is in its authorized_keys`,
            ),
          );
        else if (err.level === 'client-timeout' || /Timed out/.test(err.message))
          reject(
            new SshConnectError(`ssh ${name}: no SSH handshake within ${this.opts.connectTimeoutMs ?? 10_000} ms`, err),
          );
        else if (/privateKey|passphrase/i.test(err.message))
          reject(
            new SshConfigError(`ssh ${name}: cannot use the private key from ${e.privateKey.ref}: ${err.message}`),
          );
        else if (err.code === 'ECONNREFUSED')
          reject(
            new SshConnectError(`ssh ${name}: connection refused (ECONNREFUSED): no SSH server listens there`, err),
          );
        else reject(new SshConnectError(`ssh ${name}: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' '), err));
      });
      try {
        conn.connect({
          host: e.host,
          port: e.port,
          username: e.user,
          privateKey,
          readyTimeout: this.opts.connectTimeoutMs ?? 10_000,
          keepaliveInterval: 15_000,
          ...(policy.algorithms ? { algorithms: { serverHostKey: policy.algorithms as never } } : {}),
          hostVerifier: (key: Buffer) => {
            const why = policy.check(key);
            if (why) refusal = `the server presented ${keyType(key)} ${fingerprint(key)}, and ${why}`;
            return why === null;
          },
        });
      } catch (err) {
        reject(
          new SshConfigError(
            `ssh ${name}: cannot use the private key from ${e.privateKey.ref}: ${(err as Error).message}`,
          ),
        );
      }
    });
  }

  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const p of all) {
      const s = await p.catch(() => undefined);
      s?.close();
    }
  }
}
