#!/usr/bin/env node
// The GitLab side of the pipelines (.gitlab-ci.yml), with GitLab's REST API v4:
//   node gitlab.mjs note plan.md    one note on the merge request, found by its marker and updated
//   node gitlab.mjs issue drift.md  one open issue labelled shipshape-drift, updated or created
// Needs SHIPSHAPE_GITLAB_TOKEN: a project access token (role Reporter, scope api); CI_JOB_TOKEN cannot
// write notes or issues. The other variables are GitLab's predefined CI/CD variables.
import { readFileSync } from 'node:fs';

// Errors end the job with one line (never a stack trace and never a secret: only the API's status and message).
try {
  const [mode, file] = process.argv.slice(2);
  const env = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set (${name === 'SHIPSHAPE_GITLAB_TOKEN' ? 'add a project access token as a masked CI/CD variable' : 'run this inside a GitLab CI job'})`);
    return v;
  };
  const api = `${env('CI_API_V4_URL')}/projects/${encodeURIComponent(env('CI_PROJECT_ID'))}`;
  const headers = { 'PRIVATE-TOKEN': env('SHIPSHAPE_GITLAB_TOKEN'), 'Content-Type': 'application/json' };

  async function call(method, path, body) {
    const res = await fetch(`${api}${path}`, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    return { data: await res.json(), next: res.headers.get('x-next-page') };
  }

  async function all(path) {
    const out = [];
    for (let page = '1'; page; ) {
      const r = await call('GET', `${path}${path.includes('?') ? '&' : '?'}per_page=100&page=${page}`);
      out.push(...r.data);
      page = r.next;
    }
    return out;
  }

  const text = readFileSync(file, 'utf8');
  if (mode === 'note') {
    const marker = '<!-- shipshape-plan -->';
    const body = `${marker}\n${text}`;
    const mr = `/merge_requests/${env('CI_MERGE_REQUEST_IID')}/notes`;
    const mine = (await all(`${mr}?sort=asc`)).find((n) => typeof n.body === 'string' && n.body.startsWith(marker));
    if (mine) await call('PUT', `${mr}/${mine.id}`, { body });
    else await call('POST', mr, { body });
    console.log(mine ? `updated note ${mine.id}` : 'created the plan note');
  } else if (mode === 'issue') {
    const open = await all('/issues?state=opened&labels=shipshape-drift');
    if (open.length) await call('PUT', `/issues/${open[0].iid}`, { description: text });
    else await call('POST', '/issues', { title: 'shipshape: drift detected', description: text, labels: 'shipshape-drift' });
    console.log(open.length ? `updated issue #${open[0].iid}` : 'opened the drift issue');
  } else {
    console.error('usage: gitlab.mjs note FILE | issue FILE');
    process.exit(2);
  }
} catch (e) {
  console.error(`gitlab.mjs: ${e.message}`);
  process.exit(1);
}
