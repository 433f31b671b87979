/**
 * Offline part of the install checks for `shipshape validate`: every present system's answer file and
 * boot scripts render from the manifests (placeholder secrets, token and — for `ip: auto` — address),
 * and the kickstart/iPXE rules pass. A value that cannot be written safely is reported here, before
 * any apply. (The secrets themselves, and debconf's preseed check, run at apply.)
 */
import type { LoadResult } from '../../manifest';
import type { SiteConfig } from '../../manifest/site';
import { checkIpxe, checkKickstart } from './checks';
import { bootPathOf } from './provider';
import { readTemplate, renderInstall } from './render';

const PLACEHOLDER_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderKeyForValidationOnlyxxxxxxxxxxxxx validate';
const PLACEHOLDER_HASH = '$6$validate$placeholderplaceholderplaceholder';
const PLACEHOLDER_TOKEN = 'validate-placeholder-token-0000000000000';

export async function installProblems(
  repo: LoadResult & { site: SiteConfig },
): Promise<{ file: string; message: string }[]> {
  const site = repo.site;
  if (!site.provisioning || !site.vms) return [];
  const out: { file: string; message: string }[] = [];
  const templates = new Map<string, string>();
  for (const system of repo.systems.filter((s) => s.state === 'present')) {
    const os = repo.os[system.os];
    if (!os) continue; // reported by the manifest rules
    try {
      if (!templates.has(os.name)) templates.set(os.name, await readTemplate(os, site.root));
      const r = renderInstall({
        system,
        os,
        site,
        bootPath: bootPathOf(system, site),
        token: PLACEHOLDER_TOKEN,
        template: templates.get(os.name)!,
        resolved: { ip: system.network.ip === 'auto' ? '0.0.0.0' : system.network.ip, mac: system.network.mac },
        secrets: {
          sshPublicKey: PLACEHOLDER_KEY,
          ...(site.provisioning.rootPasswordHash ? { rootPasswordHash: PLACEHOLDER_HASH } : {}),
        },
      });
      const problems = [
        ...(os.installer === 'kickstart' ? checkKickstart(r.answerFile, os.release) : []),
        ...checkIpxe(r.bootScript),
        ...(r.isoScript ? checkIpxe(r.isoScript) : []),
      ];
      for (const p of problems)
        out.push({ file: os.answerFile, message: `system ${system.name}: rendered ${os.answerFile}: ${p}` });
    } catch (e) {
      out.push({ file: system.file, message: (e as Error).message });
    }
  }
  return out;
}
