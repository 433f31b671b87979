/**
 * A `--repo` URL with credentials, against a real smart-HTTP git server (git http-backend behind
 * Basic auth on loopback): the fetch works, and the token is nowhere — not in the clone's
 * .git/config, the state files, or an error message.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearSecrets, redact } from '../redact';
import { recordApplied, remoteHead, syncRepo } from './git';

const TOKEN = 'glpat-Sup3rSecretToken42';
let base: string;
let server: http.Server;
let url: string;
let head: string;

/** git http-backend as CGI (git's documented smart-HTTP server), only for alice:TOKEN. */
function gitHttp(root: string): http.Server {
  return http.createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    if (auth !== `Basic ${Buffer.from(`alice:${TOKEN}`).toString('base64')}`) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
      req.resume();
      return;
    }
    const u = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...process.env,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: u.pathname,
        QUERY_STRING: u.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: 'alice',
      },
    });
    req.pipe(cgi.stdin);
    const out: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => out.push(c));
    cgi.on('close', () => {
      const all = Buffer.concat(out);
      const split = all.indexOf('\r\n\r\n');
      const headers = all.subarray(0, split).toString().split('\r\n');
      let status = 200;
      const h: Record<string, string> = {};
      for (const line of headers) {
        const [k, ...v] = line.split(':');
        if (k!.toLowerCase() === 'status') status = Number(v.join(':').trim().split(' ')[0]);
        else h[k!] = v.join(':').trim();
      }
      res.writeHead(status, h).end(all.subarray(split + 4));
    });
  });
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'shipshape-gitcred-'));
  const work = join(base, 'work');
  const g = (...a: string[]) => execFileSync('git', a, { cwd: base, encoding: 'utf8' });
  g('init', '-q', '-b', 'main', work);
  writeFileSync(join(work, 'a.yaml'), 'one\n');
  g('-C', work, 'add', '-A');
  g('-C', work, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'one');
  g('clone', '-q', '--bare', work, join(base, 'srv', 'infra.git'));
  head = g('-C', work, 'rev-parse', 'HEAD').trim();
  server = gitHttp(join(base, 'srv'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://alice:${TOKEN}@127.0.0.1:${(server.address() as AddressInfo).port}/infra.git`;
});
afterAll(async () => {
  clearSecrets();
  await new Promise((r) => server.close(r));
});

/** Every file under dir, as text. */
function allText(dir: string): string {
  let out = '';
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const f = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    if (e.isFile() && statSync(f).size < 1_000_000) out += readFileSync(f, 'latin1');
  }
  return out;
}

it('fetches with the URL credentials, which end up in no file of the state dir and no message', async () => {
  const state = join(base, 'state');
  const src = { url, ref: 'main', cacheDir: join(state, 'repos'), stateDir: state };
  const r = await syncRepo(src);
  expect(r.commit).toBe(head);
  expect(await remoteHead(url, 'main', state)).toBe(head);
  recordApplied(src, r.commit);
  const config = readFileSync(join(r.dir, '.git', 'config'), 'utf8');
  expect(config).toContain(`127.0.0.1:${(server.address() as AddressInfo).port}/infra.git`);
  expect(config).not.toContain(TOKEN);
  expect(allText(state)).not.toContain(TOKEN);
  // Once seen, the token is redacted from any output, even one that quotes it whole.
  expect(redact(`oops ${TOKEN}`)).not.toContain(TOKEN);

  const err = await syncRepo({ ...src, ref: 'no-such-branch' }).catch((e: Error) => e.message);
  expect(err).toMatch(/does not exist/);
  expect(err).not.toContain(TOKEN);
  expect(err).not.toContain('alice');
});

it('a wrong token fails loudly without waiting for a prompt and without showing it', async () => {
  const state = join(base, 'state-wrong');
  const wrong = url.replace(TOKEN, 'not-the-token-9876');
  const err = await syncRepo({ url: wrong, ref: 'main', cacheDir: join(state, 'repos'), stateDir: state }).catch(
    (e: Error) => e.message,
  );
  expect(err).toMatch(/cannot fetch http:\/\/127\.0\.0\.1:\d+\/infra\.git/);
  expect(err).not.toContain('not-the-token-9876');
});
