/**
 * templates/ci/gitlab.mjs, the GitLab side of the pipelines, against a stand-in for GitLab's REST API v4:
 * the plan stays ONE note on the merge request across pushes, and drift ONE open issue.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeDir, tempDir } from '../helpers/daemon';

const run = promisify(execFile);
const SCRIPT = join(__dirname, '..', '..', 'templates', 'ci', 'gitlab.mjs');
const dir = tempDir('gitlab-helper');
let server: Server;
let base: string;
const notes: { id: number; body: string }[] = [{ id: 1, body: 'a reviewer: looks good' }];
const issues: { iid: number; title: string; description: string; labels: string[]; state: string }[] = [];
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${req.headers['private-token']}`);
      const url = new URL(req.url!, 'http://x');
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-next-page': '' });
        res.end(JSON.stringify(v));
      };
      const p = url.pathname.replace('/api/v4/projects/42', '');
      const data = body ? JSON.parse(body) : {};
      if (req.method === 'GET' && p === '/merge_requests/7/notes') return json(200, notes);
      if (req.method === 'POST' && p === '/merge_requests/7/notes') {
        notes.push({ id: notes.length + 1, body: data.body });
        return json(201, notes.at(-1));
      }
      const n = /^\/merge_requests\/7\/notes\/(\d+)$/.exec(p);
      if (req.method === 'PUT' && n) {
        notes.find((x) => x.id === Number(n[1]))!.body = data.body;
        return json(200, {});
      }
      if (req.method === 'GET' && p === '/issues')
        return json(
          200,
          issues.filter(
            (i) => i.state === url.searchParams.get('state') && i.labels.includes(url.searchParams.get('labels')!),
          ),
        );
      if (req.method === 'POST' && p === '/issues') {
        issues.push({
          iid: issues.length + 1,
          title: data.title,
          description: data.description,
          labels: String(data.labels).split(','),
          state: 'opened',
        });
        return json(201, {});
      }
      const i = /^\/issues\/(\d+)$/.exec(p);
      if (req.method === 'PUT' && i) {
        issues.find((x) => x.iid === Number(i[1]))!.description = data.description;
        return json(200, {});
      }
      json(404, { message: '404 Not found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v4`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  removeDir(dir);
});

const helper = (mode: string, text: string) => {
  const file = join(dir, `${mode}.md`);
  writeFileSync(file, text);
  return run(process.execPath, [SCRIPT, mode, file], {
    timeout: 30_000,
    env: {
      PATH: process.env.PATH!,
      CI_API_V4_URL: base,
      CI_PROJECT_ID: '42',
      CI_MERGE_REQUEST_IID: '7',
      SHIPSHAPE_GITLAB_TOKEN: 'glpat-test',
    },
  });
};

it('the plan is one note on the merge request, updated on every push', async () => {
  expect((await helper('note', '### shipshape plan\nfirst push\n')).stdout).toBe('created the plan note\n');
  expect((await helper('note', '### shipshape plan\nsecond push\n')).stdout).toBe('updated note 2\n');
  expect(notes).toEqual([
    { id: 1, body: 'a reviewer: looks good' },
    { id: 2, body: '<!-- shipshape-plan -->\n### shipshape plan\nsecond push\n' },
  ]);
  expect(seen.every((s) => s.endsWith(' glpat-test'))).toBe(true);
});

it('drift is one open issue labelled shipshape-drift, updated while drift exists', async () => {
  await helper('issue', 'drift 1\n');
  await helper('issue', 'drift 2\n');
  expect(issues).toEqual([
    {
      iid: 1,
      title: 'shipshape: drift detected',
      description: 'drift 2\n',
      labels: ['shipshape-drift'],
      state: 'opened',
    },
  ]);
});

it('without the token it says what to add', async () => {
  const file = join(dir, 'x.md');
  writeFileSync(file, 'x');
  const err = await run(process.execPath, [SCRIPT, 'note', file], {
    env: { PATH: process.env.PATH!, CI_API_V4_URL: base, CI_PROJECT_ID: '42' },
  }).catch((e: { stderr: string }) => e);
  expect((err as { stderr: string }).stderr).toBe(
    'gitlab.mjs: SHIPSHAPE_GITLAB_TOKEN is not set (add a project access token as a masked CI/CD variable)\n',
  );
});
