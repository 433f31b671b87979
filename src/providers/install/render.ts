/**
 * Renders what one installation needs, from the expanded manifest, the site and the values earlier
 * steps resolved: the answer file (preseed/kickstart, from the OS entry's template), the iPXE boot
 * script the provisioning server hands out at /boot/<mac>, and — without DHCP — the script embedded
 * in the per-system boot ISO (static network settings, then chain to /boot/<mac>).
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { UNKNOWN, type BootOptions, type Resolved } from '../../engine/contract';
import type { OsEntry } from '../../manifest/catalog';
import { intToIp, parseCidr } from '../../net/ipv4';
import type { ProvisioningSite, SiteConfig } from '../../manifest/site';
import { fqdn, type DesiredSystem } from '../../manifest/types';
import { RenderError } from './errors';
import { checked, escapeFor } from './escape';
import { parseTemplate, renderTemplate, type TemplateContext } from './template';

/** DHCP: the reservation points iPXE at /boot/<mac>. ISO: a per-system boot ISO carries static settings. */
export type BootPath = 'dhcp' | 'iso';

export interface InstallSecrets {
  /** crypt(3) hash for root, when the site sets one. */
  rootPasswordHash?: string;
  /** The public key specialisation logs in with. */
  sshPublicKey: string;
}

export interface NetworkSettings {
  ip: string;
  netmask: string;
  gateway: string;
  nameservers: string[];
}

export interface RenderInput {
  system: DesiredSystem;
  os: OsEntry;
  site: SiteConfig;
  resolved: Resolved;
  bootPath: BootPath;
  token: string;
  secrets: InstallSecrets;
  /** The answer-file template text (read by the caller from os.answerFile). */
  template: string;
}

export interface RenderedInstall {
  answerFile: string;
  bootScript: string;
  /** Only on the ISO path: the script baked into the boot ISO. */
  isoScript?: string;
  kernelArgs: string;
}

/** `00-50-56-01-02-03`: the form iPXE's `${net0/mac:hexhyp}` produces and URLs carry. */
export function macKey(mac: string): string {
  return mac.toLowerCase().replace(/:/g, '-');
}

export function bootScriptUrl(site: SiteConfig, mac: string): string {
  return `${provisioning(site, '(site)').baseUrl.replace(/\/+$/, '')}/boot/${macKey(mac)}`;
}

/**
 * What a DHCP reservation hands an iPXE client when the site has a provisioning server: the
 * per-host script URL (`filename`) and the server's address (`next-server`, when baseUrl names
 * an IPv4 address). Pure, so the dhcp step (which runs before install) can plan it. After the
 * install the same URL answers "boot from disk", so the reservation never needs to change.
 */
export function installBootOptions(system: DesiredSystem, site: SiteConfig): BootOptions {
  if (!site.provisioning || system.state !== 'present') return {};
  const host = new URL(site.provisioning.baseUrl).hostname;
  return {
    filename: bootScriptUrl(site, system.network.mac),
    ...(/^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? { nextServer: host } : {}),
  };
}

export function provisioning(site: SiteConfig, system: string): ProvisioningSite {
  if (!site.provisioning)
    throw new RenderError(
      system,
      'provisioning',
      'shipshape.yaml has no `provisioning:` section (listen, baseUrl, mirrors)',
    );
  return site.provisioning;
}

/** Static settings from the IPAM's resolved values and the site's net. */
export function networkSettings(system: DesiredSystem, resolved: Resolved, site: SiteConfig): NetworkSettings {
  const n = system.name;
  const net = site.nets[system.network.net];
  if (resolved.ip === UNKNOWN)
    throw new RenderError(n, 'network.ip', 'the address is not allocated yet (the ip step must run first)');
  const prefix = resolved.prefixLength ?? (net ? (parseCidr(net.cidr)?.prefix ?? undefined) : undefined);
  const gateway = resolved.gateway ?? net?.gateway;
  if (prefix === undefined)
    throw new RenderError(n, 'network.net', `net \`${system.network.net}\` has no known prefix length`);
  if (!gateway)
    throw new RenderError(n, 'network.net', `net \`${system.network.net}\` declares no gateway in shipshape.yaml`);
  const netmask = intToIp(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
  const nameservers = net?.dnsServers ?? [];
  if (nameservers.length === 0)
    throw new RenderError(n, 'network.net', `net \`${system.network.net}\` declares no dnsServers in shipshape.yaml`);
  return {
    ip: checked(n, 'network.ip', 'ipv4', String(resolved.ip)),
    netmask,
    gateway: checked(n, 'gateway', 'ipv4', gateway),
    nameservers: nameservers.map((d) => checked(n, 'dnsServers', 'ipv4', d)),
  };
}

/**
 * The answer file is asked for by MAC (the boot script carries no secret); only the answer file,
 * which the server hands to the system's own address alone, carries the token the callbacks need.
 */
function callbackUrls(
  base: string,
  macPath: string,
  token: string,
): Record<'installUrl' | 'builtUrl' | 'failedUrl' | 'progressUrl', string> {
  const b = base.replace(/\/+$/, '');
  return {
    installUrl: `${b}/install/${macPath}`,
    builtUrl: `${b}/built/${token}`,
    failedUrl: `${b}/failed/${token}`,
    progressUrl: `${b}/progress/${token}`,
  };
}

const BOOT_DISK = 'sda';
const MIN_ROOT_MIB = 4096;

export function renderInstall(input: RenderInput): RenderedInstall {
  const { system, os, site, resolved, bootPath, token, secrets } = input;
  const n = system.name;
  const prov = provisioning(site, n);
  const mirror = prov.mirrors[os.name];
  if (!mirror)
    throw new RenderError(n, 'os', `provisioning.mirrors in shipshape.yaml has no entry for OS \`${os.name}\``);
  const mirrorUrl = checked(n, `provisioning.mirrors.${os.name}`, 'url', mirror.replace(/\/+$/, ''));
  const base = checked(n, 'provisioning.baseUrl', 'url', prov.baseUrl.replace(/\/+$/, ''));
  const urls = callbackUrls(
    base,
    checked(n, 'network.mac', 'word', macKey(String(resolved.mac ?? system.network.mac))),
    checked(n, 'token', 'word', token),
  );
  const net = bootPath === 'iso' ? networkSettings(system, resolved, site) : undefined;
  const bootDisk = system.disks[0];
  if (!bootDisk) throw new RenderError(n, 'disks', 'the system declares no disks; the first disk is the boot disk');
  const swapMiB = Math.min(4096, Math.max(1024, system.memoryMiB));
  if (bootDisk.sizeGiB * 1024 < 1024 + swapMiB + MIN_ROOT_MIB) {
    throw new RenderError(
      n,
      'disks[0].sizeGiB',
      `${bootDisk.sizeGiB} GiB is too small for /boot (1 GiB), swap (${swapMiB} MiB) and / (at least ${MIN_ROOT_MIB} MiB)`,
    );
  }
  const mirrorParsed = new URL(mirrorUrl);
  const ctx: TemplateContext = {
    hostname: checked(n, 'name', 'hostname', n),
    domain: checked(n, 'dns.domain', 'domain', system.dns.domain),
    fqdn: checked(n, 'fqdn', 'domain', fqdn(system)),
    release: checked(n, 'os.release', 'word', os.release),
    static: net !== undefined,
    ip: net?.ip,
    netmask: net?.netmask,
    gateway: net?.gateway,
    nameservers: net?.nameservers.join(' '),
    nameserversComma: net?.nameservers.join(','),
    mirrorUrl,
    mirrorProtocol: mirrorParsed.protocol.replace(':', ''),
    mirrorHost: checked(n, 'mirror host', 'urlHost', mirrorParsed.host),
    mirrorDirectory: checked(n, 'mirror path', 'urlPath', mirrorParsed.pathname || '/'),
    timezone: checked(n, 'provisioning.timezone', 'timezone', prov.timezone),
    packages: os.packages.map((p) => checked(n, `os ${os.name} packages`, 'package', p)).join(' '),
    packageLines: os.packages.map((p) => checked(n, `os ${os.name} packages`, 'package', p)),
    rootPasswordHash:
      secrets.rootPasswordHash === undefined
        ? undefined
        : checked(n, 'provisioning.rootPasswordHash', 'passwordHash', secrets.rootPasswordHash),
    sshKey: checked(n, 'provisioning.sshPublicKeyFile', 'sshKey', secrets.sshPublicKey.trim()),
    bootDisk: BOOT_DISK,
    swapMiB: swapMiB,
    ...urls,
  };
  const format = os.installer;
  const answerFile = renderTemplate(parseTemplate(input.template, os.answerFile), ctx, {
    format,
    system: n,
    file: os.answerFile,
  });
  const kernelArgs = kernelArgsFor(os, ctx, net, urls.installUrl);
  const kernelUrl = `${mirrorUrl}/${os.boot.kernel}`;
  const initrdUrl = `${mirrorUrl}/${os.boot.initrd}`;
  const ipxe = (field: string, v: string) => escapeFor('ipxe', n, field, v);
  const bootScript = [
    '#!ipxe',
    `echo shipshape: installing ${ipxe('fqdn', String(ctx.fqdn))} (${ipxe('os', os.name)})`,
    `kernel ${ipxe('kernel', kernelUrl)} initrd=${ipxe('initrd', path.posix.basename(os.boot.initrd))} ${kernelArgs.map((a) => ipxe('kernel argument', a)).join(' ')}`,
    `initrd ${ipxe('initrd', initrdUrl)}`,
    'boot',
    '',
  ].join('\n');
  const out: RenderedInstall = { answerFile, bootScript, kernelArgs: kernelArgs.join(' ') };
  if (net) out.isoScript = isoScript(net, base);
  return out;
}

function kernelArgsFor(
  os: OsEntry,
  ctx: TemplateContext,
  net: NetworkSettings | undefined,
  installUrl: string,
): string[] {
  if (os.installer === 'preseed') {
    const keymap = Number(os.release) >= 9 ? 'keyboard-configuration/xkb-keymap=us' : 'keymap=us';
    const args = [
      'auto=true',
      'priority=critical',
      `url=${installUrl}`,
      `hostname=${ctx.hostname}`,
      `domain=${ctx.domain}`,
      'interface=auto',
      'locale=en_US.UTF-8',
      keymap,
    ];
    if (net) {
      // d-i configures the network before it fetches the preseed file: static settings go on the command line.
      args.push(
        'netcfg/disable_autoconfig=true',
        `netcfg/get_ipaddress=${net.ip}`,
        `netcfg/get_netmask=${net.netmask}`,
        `netcfg/get_gateway=${net.gateway}`,
        `netcfg/get_nameservers=${net.nameservers[0]}`,
        'netcfg/confirm_static=true',
      );
    }
    return args;
  }
  // Anaconda (EL7 understands inst.* too); dracut's ip= syntax: ip:peer:gateway:netmask:hostname:interface:autoconf.
  const args = [`inst.ks=${installUrl}`, `inst.repo=${ctx.mirrorUrl}`, 'inst.text'];
  if (net)
    args.push(
      `ip=${net.ip}::${net.gateway}:${net.netmask}:${ctx.fqdn}::none`,
      ...net.nameservers.map((d) => `nameserver=${d}`),
    );
  else args.push('ip=dhcp');
  return args;
}

/** Baked into the boot ISO: bring the NIC up with static settings, then fetch /boot/<mac>, retrying until the server has it. */
export function isoScript(net: NetworkSettings, baseUrl: string): string {
  return [
    '#!ipxe',
    `set net0/ip ${net.ip}`,
    `set net0/netmask ${net.netmask}`,
    `set net0/gateway ${net.gateway}`,
    `set net0/dns ${net.nameservers[0]}`,
    'ifopen net0',
    ':retry',
    `chain ${baseUrl}/boot/\${net0/mac:hexhyp} || goto wait`,
    ':wait',
    'echo shipshape: no boot script yet, retrying in 10 s',
    'sleep 10',
    'goto retry',
    '',
  ].join('\n');
}

/** Reads the OS entry's answer-file template from the repo. */
export async function readTemplate(os: OsEntry, root: string): Promise<string> {
  return fs.readFile(path.join(root, os.answerFile), 'utf8');
}
