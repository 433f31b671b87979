/**
 * Temporary folders of one test file, removed after its last test: importing this registers the
 * afterAll (jest evaluates a test file's imports inside that file's run), so no test leaves its
 * folders in the machine's /tmp.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A new empty folder under the system's temp dir, named `<prefix><random>`. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
