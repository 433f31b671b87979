/** Temporary repos for focused tests: a minimal valid repo plus the files a test overrides. */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadRepo } from '../../src/manifest';
import type { LoadResult } from '../../src/manifest';

export const SITE = `apiVersion: shipshape.dev/v1
kind: Site
spec:
  nets:
    dev-net: { cidr: 198.51.100.0/24, gateway: 198.51.100.1, domain: dev.example.com, reserved: [198.51.100.10] }
    live-net: { cidr: 203.0.113.0/24, gateway: 203.0.113.1, domain: live.example.com }
  ipam:
    backend: idoit
    url: https://127.0.0.1:18080/src/jsonrpc.php
    apiKey: \${env:SHIPSHAPE_IDOIT_API_KEY}
`;

export const BASE_FILES: Record<string, string> = {
  'shipshape.yaml': SITE,
  'os/debian12/os.yaml':
    'apiVersion: shipshape.dev/v1\nkind: OperatingSystem\nmetadata: { name: debian12 }\nspec: { family: debian, installer: preseed, release: "12", boot: { kernel: debian-installer/amd64/linux, initrd: debian-installer/amd64/initrd.gz }, answerFile: preseed.cfg.tpl }\n',
  'os/debian12/preseed.cfg.tpl': 'd-i debian-installer/locale string en_US.UTF-8\n',
  'roles/app/shop/role.yaml':
    'apiVersion: shipshape.dev/v1\nkind: Role\nmetadata: { name: app/shop }\nspec:\n  params:\n    type: object\n    additionalProperties: false\n    properties:\n      projectKey: { type: string }\n  steps: []\n',
  'profiles/base.yaml':
    'apiVersion: shipshape.dev/v1\nkind: Profile\nmetadata: { name: base }\nspec:\n  cpu: 2\n  memoryMiB: 2048\n  disks: [{ sizeGiB: 20 }]\n  network: { net: dev-net }\n  os: debian12\n',
};

/** A System manifest named `name` with the given spec lines (indented by two spaces). */
export function system(name: string, ...specLines: string[]): string {
  return `apiVersion: shipshape.dev/v1\nkind: System\nmetadata:\n  name: ${name}\nspec:\n${specLines.map((l) => `  ${l}\n`).join('')}`;
}

const made: string[] = [];
// Every test file that makes repos has them removed after its last test (calling cleanupRepos itself as well is harmless).
afterAll(cleanupRepos);

export async function makeRepo(files: Record<string, string | Buffer | null>): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-manifest-'));
  made.push(root);
  for (const [rel, content] of Object.entries({ ...BASE_FILES, ...files })) {
    if (content === null) continue; // null removes a base file
    const abs = path.join(root, rel);
    await fs.mkdir(path.dirname(abs), { recursive: true });
    await fs.writeFile(abs, content);
  }
  return root;
}

export async function load(files: Record<string, string | Buffer | null>): Promise<LoadResult> {
  return loadRepo(await makeRepo(files));
}

/** `file:line:col: message` lines of the errors (warnings with `warning:`) for compact assertions. */
export function lines(r: LoadResult): string[] {
  return r.diagnostics.map(
    (d) => `${d.file}:${d.line}:${d.col}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`,
  );
}

export async function cleanupRepos(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
}
