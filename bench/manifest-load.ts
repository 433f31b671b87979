/**
 * How long `loadRepo` takes for a repo of N systems (default 2000), using the example repo's site,
 * profiles, OS catalog and roles. Run from the repo root:
 *   npx tsc -p tsconfig.json --outDir /tmp/shipshape-bench
 *   NODE_PATH=$PWD/node_modules node /tmp/shipshape-bench/bench/manifest-load.js 2000
 * CPU time includes libuv's file-system threads (most of the cost is reading thousands of small files).
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadRepo } from '../src/manifest';

async function copyTree(from: string, to: string): Promise<void> {
  await fs.mkdir(to, { recursive: true });
  for (const ent of await fs.readdir(from, { withFileTypes: true })) {
    const [src, dst] = [path.join(from, ent.name), path.join(to, ent.name)];
    if (ent.isDirectory()) await copyTree(src, dst);
    else await fs.copyFile(src, dst);
  }
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2000);
  const exampleRoot = path.join(process.cwd(), 'examples', 'lab'); // run from the repo root: the lab site's config, profiles, os, roles
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-bench-'));
  try {
    await fs.copyFile(path.join(exampleRoot, 'shipshape.yaml'), path.join(root, 'shipshape.yaml'));
    for (const d of ['profiles', 'os', 'roles']) await copyTree(path.join(exampleRoot, d), path.join(root, d));
    await fs.mkdir(path.join(root, 'systems'), { recursive: true });
    for (let i = 0; i < n; i++) {
      const name = `web-${String(i).padStart(5, '0')}`;
      const ip = i < 200 ? `\n    ip: 198.51.100.${i + 20}` : '';
      const text = `apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: ${name}\nspec:\n  profile: web-dev\n  network:\n    net: dev-net${ip}\n  roles:\n    - name: app/shop\n      params: { projectKey: SHOP }\n`;
      await fs.writeFile(path.join(root, 'systems', `${name}.yaml`), text);
    }
    const times: number[] = [];
    const cpu: number[] = [];
    let result;
    for (let run = 0; run < 5; run++) {
      const t = process.hrtime.bigint();
      const c = process.cpuUsage();
      result = await loadRepo(root);
      const u = process.cpuUsage(c);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
      cpu.push((u.user + u.system) / 1000); // wall time lies on a shared machine; CPU time does less
    }
    const errors = result!.diagnostics.filter((d) => d.severity === 'error').length; // derived-MAC clashes are possible at this size
    const sorted = [...times].sort((a, b) => a - b);
    console.log(
      `loadRepo: ${n} systems, ${errors} errors; runs (ms): ${times.map((x) => x.toFixed(0)).join(', ')}; median ${sorted[2].toFixed(0)} ms; cpu (ms): ${cpu.map((x) => x.toFixed(0)).join(', ')}; rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`,
    );
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

void main();
