/**
 * The `install` step (kind `install`, after `vm`, before `specialise`): puts a system's OS on its VM
 * and waits until the installer says `built` — or fails with the installer's log, or times out —
 * so specialisation never starts on a half-installed machine.
 *
 * observe: every install record in the state dir (one directory read). desired: `{ os, state: built }`.
 * create/update: one attempt (token, rendered + checked files; on the ISO path a boot ISO uploaded
 * and attached through `media`), restart the VM so it boots the installer, wait. A built system is
 * never installed again: changing its OS is refused in the plan.
 * Lab sites (and only they) may let a stand-in play the installer: a vcsim VM cannot run one.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import {
  UNKNOWN,
  UserError,
  type BootMedia,
  type EarlierSteps,
  type FieldChange,
  type Fields,
  type Observation,
  type ObservedResource,
  type Provider,
  type ProviderContext,
  type Resolved,
} from '../../engine/contract';
import { Refusal } from '../../engine/refusals';
import type { OsEntry } from '../../manifest/catalog';
import type { SecretRef, SiteConfig } from '../../manifest/site';
import type { DesiredSystem } from '../../manifest/types';
import { startAttempt, waitForBuilt } from './attempt';
import { checkIpxe, checkKickstart, checkPreseed } from './checks';
import { buildBootIso } from './iso';
import { installBootOptions, readTemplate, renderInstall, type BootPath } from './render';
import { ACTIVE, moved, type InstallRecord, type InstallState } from './state';
import { InstallStore } from './store';
import { isOpenSshPublicKey } from './escape';

export interface InstallFields extends Fields {
  os: string;
  state: InstallState;
  /**
   * Observed only, and only `missing`: the record says built but the VM does not carry the install
   * marker (a run stopped between the installer's `built` and setting it). Without the marker a lost
   * state dir would mean a reinstall, so the plan sets it.
   */
  vmMarker?: 'missing';
}

/** What the ISO path needs from the VM's platform: the `bootMedia` capability of the vm step. */
export type { BootMedia } from '../../engine/contract';

/** Where the installer publishes the installed system's SSH host key (answer-file templates call vmware-rpctool with it). */
export const HOST_KEY_GUESTINFO = 'guestinfo.shipshape.hostkey';

/** Plays the installer's part against the provisioning server: lab sites only. `publishHostKey` plays vmware-rpctool. */
export type LabInstaller = (job: {
  system: string;
  mac: string;
  /** The address the installed system will have (the ip step's), UNKNOWN-free by the time install runs. */
  ip: string;
  token: string;
  baseUrl: string;
  publishHostKey?: (key: string) => Promise<void>;
}) => Promise<void>;

export interface InstallProviderOptions {
  os: Record<string, OsEntry>;
  /** The install state dir shared with the provisioning server. */
  dir: string;
  secret: (ref: SecretRef) => Promise<string>;
  media?: BootMedia;
  labInstaller?: LabInstaller;
  pollMs?: number;
  now?: () => Date;
  /** The repo's systems: the records of those declared absent stay in view for their delete. */
  systems?: DesiredSystem[];
  /** Hears of a corrupt install record (moved aside, rebuilt from the VM's marker); default: a warning on stderr. */
  onCorruptState?: (message: string) => void;
}

/**
 * `bootedAt`: on the resource an install of this run returns only (never stored, never observed):
 * the VM platform's time of the boot it started, handed on to specialisation (resolve).
 */
type Res = ObservedResource<InstallFields, InstallRecord & { bootedAt?: string }>;

export function bootPathOf(system: DesiredSystem, site: SiteConfig): BootPath {
  return site.dhcp.servers.some((s) => s.nets.includes(system.network.net)) ? 'dhcp' : 'iso';
}

/** The VM's instanceUuid as the vm step resolved it; undefined while there is none (it is yet to be made). */
function vmOf(resolved: Resolved): string | undefined {
  const v = resolved.vmInstanceUuid;
  return v && v !== UNKNOWN ? v : undefined;
}

/**
 * Whether an install record is about the VM the system has now. The VM is the authority: a record
 * names the VM it installed (instanceUuid), and a record of another VM is stale (that VM was
 * destroyed and a new one made, so the new one is not installed). Where the vm step hands on no VM
 * at all (no VM platform, or unit tests), nothing contradicts the record. A record written before
 * records named their VM counts as built only while the VM carries the install marker `built`.
 */
export function ofCurrentVm(r: InstallRecord, resolved: Resolved): boolean {
  const vm = vmOf(resolved);
  if (r.vmInstanceUuid) return r.vmInstanceUuid === vm;
  if (!vm && !resolved.vmInstall) return true;
  return r.state !== 'built' || resolved.vmInstall?.marker === 'built';
}

export class InstallProvider implements Provider<InstallFields, InstallRecord> {
  readonly kind = 'install' as const;
  private readonly store: InstallStore;

  constructor(private o: InstallProviderOptions) {
    this.store = new InstallStore(o.dir, ...(o.onCorruptState ? [o.onCorruptState] : []));
  }

  desired(system: DesiredSystem, resolved: Resolved, site: SiteConfig): InstallFields | null {
    // Nothing to install onto without a VM platform (the vm step); nothing to install with without a provisioning server.
    if (system.state !== 'present' || !site.provisioning || !site.vms) return null;
    // An adopted system was installed by someone else: shipshape never reinstalls it.
    if (resolved.installed === 'adopted') return null;
    return { os: system.os, state: 'built' };
  }

  diff(_system: DesiredSystem, desired: InstallFields, observed: Res): FieldChange[] {
    const o = observed.fields;
    if (o.state === 'built') {
      if (o.os === desired.os)
        return o.vmMarker === 'missing' ? [{ path: 'vm.installMarker', from: null, to: 'built' }] : [];
      return [
        {
          path: 'os',
          from: o.os,
          to: desired.os,
          refusal: 'reinstall',
          refused:
            'the system is installed; shipshape never reinstalls a built system. To reinstall, declare it `state: absent`, apply, then declare it present again',
        },
      ];
    }
    return [{ path: 'state', from: o.state, to: 'built' }];
  }

  /** After the vm step: a record counts only for the VM the system has now (ofCurrentVm). */
  readonly observeAfterEarlier = true;

  async observe(_ctx: ProviderContext, earlier?: EarlierSteps): Promise<Observation<InstallFields, InstallRecord>> {
    const records = await this.store.all();
    // A system declared absent keeps its record in view, whatever VM it names: the delete removes it.
    const absent = new Set((this.o.systems ?? []).filter((s) => s.state !== 'present').map((s) => s.name));
    const current = records.filter((r) => {
      const resolved = earlier?.resolved(r.system);
      return !resolved || absent.has(r.system) || ofCurrentVm(r, resolved);
    });
    return {
      roundTrips: 1,
      resources: current.map((r) => {
        const res = this.toResource(r);
        const resolved = earlier?.resolved(r.system);
        // A built record of the VM the system has now, which does not say it is installed.
        const unmarked = r.state === 'built' && !!resolved && !!r.vmInstanceUuid && r.vmInstanceUuid === vmOf(resolved);
        return unmarked && resolved.vmInstall?.marker !== 'built'
          ? { ...res, fields: { ...res.fields, vmMarker: 'missing' as const } }
          : res;
      }),
    };
  }

  async create(system: DesiredSystem, desired: InstallFields, resolved: Resolved, ctx: ProviderContext): Promise<Res> {
    return this.install(system, desired, resolved, ctx);
  }

  async update(
    system: DesiredSystem,
    desired: InstallFields,
    _o: Res,
    _c: FieldChange[],
    resolved: Resolved,
    ctx: ProviderContext,
  ): Promise<Res> {
    return this.install(system, desired, resolved, ctx);
  }

  async delete(system: DesiredSystem, observed: Res, _ctx: ProviderContext): Promise<void> {
    await this.store.remove(observed.system || system.name);
  }

  /**
   * A built system whose record the state dir does not hold (a new machine, a merge-request runner):
   * the VM's install marker says it is built, with the host key the guest published. Planned as
   * installed, never as an install; apply records it (install()).
   */
  recovered(system: DesiredSystem, resolved: Resolved): Res | undefined {
    const v = resolved.vmInstall;
    if (v?.marker !== 'built') return undefined;
    const vm = vmOf(resolved);
    return this.toResource({
      system: system.name,
      mac: resolved.mac.toLowerCase(),
      ...(vm ? { vmInstanceUuid: vm } : {}),
      os: v.os || system.os,
      bootPath: 'dhcp',
      state: 'built',
      requestedAt: '',
      updatedAt: '',
      attempt: 0,
      history: [],
      ...(v.hostKey && isOpenSshPublicKey(v.hostKey) ? { hostKey: v.hostKey } : {}),
    });
  }

  /** Hands the installed system's host key to specialisation; until the install is built, the key is not known. */
  resolve(_system: DesiredSystem, observed: Res | undefined, resolved: Resolved): Resolved {
    const r = observed?.handle;
    if (!r) return resolved;
    if (r.state !== 'built') return { ...resolved, hostKey: UNKNOWN };
    const out = r.hostKey ? { ...resolved, hostKey: r.hostKey } : resolved;
    // Installed in this run: the VM as observe will find it now (booted then, marked built), which
    // the vm step, run before the power-on, could not hand on; specialisation keys the role record
    // it keeps by it, so the observe after this apply and the next plan read the host from there.
    if (!r.bootedAt) return out;
    return {
      ...out,
      vmBootTime: r.bootedAt,
      installedNow: true,
      vmInstall: { ...(resolved.vmInstall ?? { os: r.os }), marker: 'built' },
    };
  }

  /** The PXE options the DHCP step puts into the reservation it creates before this step runs. */
  promises(system: DesiredSystem, site: SiteConfig): Partial<Resolved> {
    // A system this step installs has no host key until its install record says built (resolve() sets it):
    // specialisation waits for it rather than looking the address up in known_hosts.
    const installs = this.desired(system, {} as Resolved, site) !== null;
    return { boot: installBootOptions(system, site), ...(installs ? { hostKey: UNKNOWN, bootsVm: true } : {}) };
  }

  /** Boot media (ISO upload, CD-ROM, reset): the vm step's `bootMedia` capability, wired by the registry. */
  useMedia(media: BootMedia): void {
    this.o.media = media;
  }

  private toResource(r: InstallRecord & { bootedAt?: string }): Res {
    return {
      kind: 'install',
      system: r.system,
      id: `install/${r.system}#${r.attempt}`,
      owned: true,
      fields: { os: r.os, state: r.state },
      handle: r,
    };
  }

  private async install(
    system: DesiredSystem,
    desired: InstallFields,
    resolved: Resolved,
    ctx: ProviderContext,
  ): Promise<Res> {
    const os = this.o.os[desired.os];
    if (!os) throw new UserError(`system ${system.name}: OS \`${desired.os}\` has no os/${desired.os}/os.yaml`);
    const prov = ctx.site.provisioning!;
    const now = this.o.now ?? (() => new Date());
    const timeoutMs = prov.installTimeoutMinutes * 60_000;
    if (this.o.labInstaller && !ctx.lab)
      throw new UserError(
        'a lab installer stand-in is configured, but shipshape.yaml does not set `lab: true`: a real site installs for real',
      );
    let r = await this.store.get(system.name);
    if (r && !ofCurrentVm(r, resolved)) {
      // The VM was destroyed (behind shipshape's back, or replaced) and this one is new: it is not installed.
      ctx.log.warn(
        { system: system.name, vm: vmOf(resolved), recordVm: r.vmInstanceUuid, recordState: r.state },
        'install: the install record in the state dir is of another VM, which is gone; installing this one',
      );
      await this.store.remove(system.name);
      r = undefined;
    }
    if (r?.state === 'built' && r.os !== desired.os)
      throw new Refusal(
        'reinstall',
        `system ${system.name}: installed with ${r.os}, the manifest wants ${desired.os}; shipshape never reinstalls a built system. To reinstall, declare it \`state: absent\`, apply, then declare it present again`,
      );
    if (r?.state === 'built') {
      // A run stopped between the installer's `built` and the VM's marker: set it now.
      if (this.o.media && vmOf(resolved) && resolved.vmInstall?.marker !== 'built')
        await this.o.media.setInstallMarker(system, resolved, 'built', ctx);
      return this.toResource(r.hostKey ? r : await this.confirmHostKey(system, resolved, r, ctx));
    }
    if (!r && this.o.media && (await this.o.media.installMarker(system, resolved, ctx)) === 'built') {
      // The VM says it is installed but our record is gone (a lost or new state dir): record it, never reinstall.
      const at = now().toISOString();
      const vm = vmOf(resolved);
      const adopted: InstallRecord = {
        system: system.name,
        mac: resolved.mac.toLowerCase(),
        ...(vm ? { vmInstanceUuid: vm } : {}),
        os: desired.os,
        bootPath: bootPathOf(system, ctx.site),
        state: 'built',
        requestedAt: at,
        updatedAt: at,
        attempt: 0,
        history: [{ state: 'built', at }],
      };
      await this.store.put(adopted);
      ctx.log.warn(
        { system: system.name },
        'install: the VM carries the installed marker but the state dir has no record; recorded as built, not reinstalled',
      );
      return this.toResource(adopted);
    }
    const bootPath = bootPathOf(system, ctx.site);
    const resumable =
      r &&
      ACTIVE.has(r.state) &&
      r.os === desired.os &&
      Date.parse(r.requestedAt) + timeoutMs > now().getTime() &&
      !this.o.labInstaller;
    let token: string | undefined;
    let bootedAt: string | undefined;
    if (resumable) {
      ctx.log.info(
        { system: system.name, state: r!.state, attempt: r!.attempt },
        'install: an attempt is under way; waiting for it',
      );
    } else {
      const secrets = await this.secrets(ctx.site, system.name);
      const template = await readTemplate(os, ctx.site.root);
      let isoScript: string | undefined;
      // A host key left from an earlier attempt (or set by anyone before this one) must not be taken for the new system's.
      if (this.o.media) await this.o.media.setGuestInfo(system, resolved, HOST_KEY_GUESTINFO, '', ctx);
      const started = await startAttempt(this.store, {
        system: system.name,
        mac: resolved.mac,
        ...(resolved.ip !== UNKNOWN && resolved.ip ? { ip: String(resolved.ip) } : {}),
        os: os.name,
        bootPath,
        ...(vmOf(resolved) ? { vmInstanceUuid: vmOf(resolved)! } : {}),
        tokenTtlMs: timeoutMs,
        now: now(),
        ...(ctx.commit ? { commit: ctx.commit } : {}),
        render: async (t) => {
          const out = renderInstall({ system, os, site: ctx.site, resolved, bootPath, token: t, secrets, template });
          const problems = [
            ...(os.installer === 'preseed'
              ? await checkPreseed(out.answerFile)
              : checkKickstart(out.answerFile, os.release)),
            ...checkIpxe(out.bootScript),
            ...(out.isoScript ? checkIpxe(out.isoScript) : []),
          ];
          if (problems.length)
            throw new UserError(
              `system ${system.name}: the rendered installer files fail their checks (${os.answerFile}): ${problems.join('; ')}`,
            );
          isoScript = out.isoScript;
          return out;
        },
      });
      token = started.token;
      r = started.record;
      if (isoScript) {
        if (!this.o.media)
          throw new UserError(
            `system ${system.name}: net \`${system.network.net}\` has no DHCP server, so the install boots from a per-system ISO, which needs the vSphere provider to upload and attach it`,
          );
        const file = await buildBootIso({
          system: system.name,
          script: isoScript,
          outDir: path.join(this.o.dir, 'iso'),
        });
        const iso = await this.o.media.attachIso(system, resolved, file, ctx);
        await fs.rm(file, { force: true });
        r = { ...r, iso };
      }
      r = moved(r, 'vm-created', now());
      await this.store.put(r);
      if (this.o.media) bootedAt = await this.o.media.restart(system, resolved, ctx);
      ctx.log.info({ system: system.name, os: os.name, bootPath, attempt: r.attempt }, 'install: installer requested');
    }
    if (this.o.labInstaller && ctx.lab && token) {
      ctx.log.warn({ system: system.name }, 'lab: OS installation simulated');
      const media = this.o.media;
      await this.o.labInstaller({
        system: system.name,
        mac: resolved.mac,
        ip: String(resolved.ip),
        token,
        baseUrl: prov.baseUrl,
        ...(media
          ? { publishHostKey: (key: string) => media.setGuestInfo(system, resolved, HOST_KEY_GUESTINFO, key, ctx) }
          : {}),
      });
    }
    let done = await waitForBuilt(this.store, system.name, {
      deadline: new Date(Date.parse(r!.requestedAt) + timeoutMs),
      pollMs: this.o.pollMs ?? 5000,
      now,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onProgress: (x) => ctx.log.info({ system: x.system, state: x.state }, `install: ${x.state}`),
    });
    if (this.o.media) await this.o.media.setInstallMarker(system, resolved, 'built', ctx);
    done = await this.confirmHostKey(system, resolved, done, ctx);
    if (done.iso && this.o.media) {
      await this.o.media.detachIso(system, resolved, done.iso, ctx);
      const { iso: _iso, ...rest } = done;
      await this.store.put(rest);
      return this.toResource({ ...rest, ...(bootedAt ? { bootedAt } : {}) });
    }
    return this.toResource({ ...done, ...(bootedAt ? { bootedAt } : {}) });
  }

  /**
   * The host key specialisation will pin. `guestinfo` (default): the value the installer set inside
   * the VM, read from vCenter; a `built` callback that claimed another key is a hijack attempt and
   * fails the step. `callback`: the site accepts the key posted with `built`.
   */
  private async confirmHostKey(
    system: DesiredSystem,
    resolved: Resolved,
    r: InstallRecord,
    ctx: ProviderContext,
  ): Promise<InstallRecord> {
    const from = ctx.site.provisioning?.hostKeyFrom ?? 'guestinfo';
    let hostKey: string | undefined;
    if (from === 'callback') hostKey = r.callbackHostKey;
    else if (this.o.media) {
      const published = (await this.o.media.guestInfo(system, resolved, HOST_KEY_GUESTINFO, ctx))?.trim();
      if (published && isOpenSshPublicKey(published)) hostKey = published;
      if (hostKey && r.callbackHostKey && r.callbackHostKey !== hostKey) {
        throw new UserError(
          `system ${system.name}: the SSH host key posted with "built" is not the one the VM published in ${HOST_KEY_GUESTINFO}; someone on the install network may have answered for this system. ` +
            'The key is not trusted and specialisation will not connect. Check the VM console, then declare the system absent and present again to reinstall',
        );
      }
      if (!hostKey)
        ctx.log.warn(
          { system: system.name },
          `install: the VM published no SSH host key in ${HOST_KEY_GUESTINFO} (open-vm-tools in the installed system?); specialisation cannot pin one. Sites whose VMs cannot set guestinfo set provisioning.hostKeyFrom: callback`,
        );
    }
    if (!hostKey || hostKey === r.hostKey) return r;
    const next = { ...r, hostKey };
    await this.store.put(next);
    return next;
  }

  private async secrets(
    site: SiteConfig,
    system: string,
  ): Promise<{ rootPasswordHash?: string; sshPublicKey: string }> {
    const prov = site.provisioning!;
    if (!prov.sshPublicKeyFile)
      throw new UserError(
        `system ${system}: shipshape.yaml provisioning.sshPublicKeyFile is not set; installed systems need the key specialisation logs in with`,
      );
    const keyFile = path.resolve(site.root, prov.sshPublicKeyFile);
    const sshPublicKey = await fs.readFile(keyFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new UserError(
        `provisioning.sshPublicKeyFile ${keyFile} cannot be read (${e.code}); create it (ssh-keygen) or fix the path in shipshape.yaml`,
      );
    });
    return {
      sshPublicKey,
      ...(prov.rootPasswordHash ? { rootPasswordHash: await this.o.secret(prov.rootPasswordHash) } : {}),
    };
  }
}
