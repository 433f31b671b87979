/**
 * The per-system boot ISO for systems without DHCP: isolinux starts Debian's iPXE (ipxe.lkrn) with
 * the system's script as its initrd — iPXE runs an initrd that is a script — so no iPXE build is
 * needed. The script sets the static address and chains to /boot/<mac>. BIOS boot (vSphere's
 * default firmware for our templates). Built with xorriso; the file name carries a digest of the
 * script, so a changed script is a new file on the datastore and never a stale cached one.
 */
import { execFile } from 'child_process';
import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';

/** Where Debian's packages put what the ISO is made of (package in brackets for the error). */
export const ISO_PARTS = {
  isolinux: ['/usr/lib/ISOLINUX/isolinux.bin', 'isolinux'],
  ldlinux: ['/usr/lib/syslinux/modules/bios/ldlinux.c32', 'syslinux-common'],
  ipxe: ['/usr/lib/ipxe/ipxe.lkrn', 'ipxe'],
} as const;

export class IsoBuildError extends Error {
  override readonly name = 'IsoBuildError';
}

export function isoFileName(system: string, script: string): string {
  return `${system}-${createHash('sha256').update(script).digest('hex').slice(0, 12)}.iso`;
}

/** Builds the ISO into `outDir` and returns its path. */
export async function buildBootIso(o: {
  system: string;
  script: string;
  outDir: string;
  timeoutMs?: number;
}): Promise<string> {
  for (const [file, pkg] of Object.values(ISO_PARTS)) {
    await fs.access(file).catch(() => {
      throw new IsoBuildError(
        `${file} is missing: install the Debian package \`${pkg}\` (scripts/install-system-deps.sh)`,
      );
    });
  }
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'shipshape-iso-'));
  try {
    const d = path.join(work, 'iso', 'isolinux');
    await fs.mkdir(d, { recursive: true });
    await fs.copyFile(ISO_PARTS.isolinux[0], path.join(d, 'isolinux.bin'));
    await fs.copyFile(ISO_PARTS.ldlinux[0], path.join(d, 'ldlinux.c32'));
    await fs.copyFile(ISO_PARTS.ipxe[0], path.join(d, 'ipxe.lkrn'));
    await fs.writeFile(path.join(d, 'boot.ipxe'), o.script);
    await fs.writeFile(
      path.join(d, 'isolinux.cfg'),
      'DEFAULT ipxe\nPROMPT 0\nTIMEOUT 0\nLABEL ipxe\n  KERNEL ipxe.lkrn\n  INITRD boot.ipxe\n',
    );
    await fs.mkdir(o.outDir, { recursive: true });
    const out = path.join(o.outDir, isoFileName(o.system, o.script));
    const args = [
      '-as',
      'mkisofs',
      '-quiet',
      '-o',
      out,
      '-V',
      'SHIPSHAPE',
      '-b',
      'isolinux/isolinux.bin',
      '-c',
      'isolinux/boot.cat',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      path.join(work, 'iso'),
    ];
    await new Promise<void>((resolve, reject) => {
      execFile('xorriso', args, { timeout: o.timeoutMs ?? 60_000 }, (err, _out, stderr) => {
        if (!err) return resolve();
        if ((err as NodeJS.ErrnoException).code === 'ENOENT')
          return reject(
            new IsoBuildError(
              'xorriso is not installed: install the Debian package `xorriso` (scripts/install-system-deps.sh)',
            ),
          );
        reject(
          new IsoBuildError(
            `xorriso failed building the boot ISO of ${o.system}: ${String(stderr).trim().split('\n').slice(-3).join(' ')}`,
          ),
        );
      });
    });
    return out;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
