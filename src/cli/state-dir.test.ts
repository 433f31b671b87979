import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secureStateDir } from './state-dir';

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

it('creates the state dir 0700', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'shipshape-sd-')), 'state');
  secureStateDir(dir);
  expect(mode(dir)).toBe('700');
});

it('refuses a group- or world-writable state dir, saying how to fix it', () => {
  for (const m of [0o775, 0o777]) {
    const dir = mkdtempSync(join(tmpdir(), 'shipshape-sd-'));
    chmodSync(dir, m);
    expect(() => secureStateDir(dir)).toThrow(new RegExp(`writable by .*mode ${m.toString(8)}.*chmod 700`));
  }
});

it('tightens an old 0755 state dir and everything under it to owner-only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shipshape-sd-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'repos', 'x'), { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'applied-commits.json'), '{}', { mode: 0o644 });
  writeFileSync(join(dir, 'repos', 'x', 'hook'), '#!/bin/sh\n', { mode: 0o755 });
  secureStateDir(dir);
  expect([
    mode(dir),
    mode(join(dir, 'repos')),
    mode(join(dir, 'repos', 'x')),
    mode(join(dir, 'applied-commits.json')),
    mode(join(dir, 'repos', 'x', 'hook')),
  ]).toEqual(['700', '700', '700', '600', '700']);
});
