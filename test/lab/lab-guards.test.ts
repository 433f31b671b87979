/**
 * `lab up` guards: it never starts for a site without `lab: true`, and a taken port stops it before anything
 * starts, naming the port and what to do. Nothing here starts a daemon.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { removeDir, tempDir } from '../helpers/daemon';
import { readRecord } from '../../src/lab/record';

let dir: string;
let busy: Server;
let port: number;

const site = (lab: boolean) => `apiVersion: shipshape.dev/v1
kind: Site
spec:
  lab: ${lab}
  ipam:
    backend: idoit
    url: ${lab ? 'http' : 'https'}://127.0.0.1:${port}/src/jsonrpc.php
    apiKey: \${env:SHIPSHAPE_LAB_GUARD_KEY}
  nets:
    dev-net: { cidr: 198.51.100.0/24, gateway: 198.51.100.1, domain: dev.example.com }
`;

beforeAll(async () => {
  dir = tempDir('lab-guards');
  for (const d of ['systems', 'profiles']) mkdirSync(join(dir, d));
  busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  port = (busy.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((r) => busy.close(r));
  removeDir(dir);
});

test('lab up refuses a site that does not say lab: true, and starts nothing', async () => {
  writeFileSync(join(dir, 'shipshape.yaml'), site(false));
  const r = await runCli(['lab', 'up', '-C', dir]);
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/does not say `lab: true`.*never stands in for a real one/);
  expect(readRecord(dir)).toBeUndefined();
});

test('lab up stops before starting anything when a port of the site is taken, and names it', async () => {
  writeFileSync(join(dir, 'shipshape.yaml'), site(true));
  const r = await runCli(['lab', 'up', '-C', dir]);
  expect(r.code).toBe(1);
  expect(r.err).toContain(`127.0.0.1:${port} for i-doit emulator (ipam.url) is taken`);
  expect(readRecord(dir)).toBeUndefined();
  const s = await runCli(['lab', 'status', '-C', dir]);
  expect(s.code).toBe(3);
  expect(s.out).toMatch(/not running/);
});
