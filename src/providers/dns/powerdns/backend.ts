/**
 * A zone served by PowerDNS Authoritative, changed through its HTTP API.
 * observe: one GET of the zone (RRsets with their comments), whatever the number of records.
 * apply: one GET (what the zone holds now: a name taken since observe is refused, never overwritten), then
 * the changes of all systems in one PATCH (one backend transaction; split only past the body size budget,
 * a system never split). If PowerDNS refuses a PATCH of several systems, each is retried alone so only the
 * refused ones fail. Then what PowerDNS needs after an API change: a serial bump when the zone has no
 * SOA-EDIT-API, a rectify when the zone is DNSSEC-signed without API-RECTIFY, NOTIFY for Master zones.
 */
import { UserError } from '../../../engine/contract';
import { allFailed, type BackendDeps, type ZoneBackend, type ZoneObservation } from '../backend';
import { normalName, type DnsRecord } from '../records';
import { PowerDnsApi, PowerDnsApiError, type PdnsZone, type RRSetChange } from './api';
import type { PowerDnsZone } from './config';
import { bumpSoa, held, rrKey, splitZone, systemChanges, type SystemChanges } from './ownership';
import { groupUnder } from '../batches';

/** PowerDNS takes request bodies up to `webserver-max-bodysize` (2 MB by default); stay well below. */
const BODY_BUDGET = 1_000_000;
/** Backends without comment support (LMDB, BIND, …) refuse every PATCH that carries one. */
const NO_COMMENTS = /does not support editing comments/;

export class PowerDnsBackend implements ZoneBackend {
  readonly api: PowerDnsApi;
  /** PATCH requests sent (tests and benches read it). */
  patches = 0;
  private readonly name: string;
  readonly deployQueue: string;

  constructor(
    readonly zone: PowerDnsZone,
    private readonly deps: Pick<BackendDeps, 'readSecret' | 'log'>,
  ) {
    this.name = zone.name;
    this.deployQueue = `powerdns ${zone.url} ${zone.serverId}`;
    this.api = new PowerDnsApi({
      url: zone.url,
      serverId: zone.serverId,
      timeoutMs: zone.timeoutMs,
      apiKey: async () => (await deps.readSecret(zone.apiKey)).trim(),
      ...(zone.caFile ? { caFile: zone.caFile } : {}),
    });
  }

  async observe(): Promise<ZoneObservation> {
    const before = this.api.roundTrips;
    const zone = await this.api.getZone(this.name);
    return { ...splitZone(zone), roundTrips: this.api.roundTrips - before };
  }

  async apply(
    before: Map<string, DnsRecord[]>,
    after: Map<string, DnsRecord[]>,
    changed: Set<string>,
  ): Promise<Map<string, Error>> {
    let zone: PdnsZone;
    try {
      zone = await this.api.getZone(this.name);
    } catch (e) {
      return allFailed(changed, e as Error);
    }
    if (zone.kind === 'Slave' || zone.kind === 'Consumer') {
      return allFailed(
        changed,
        new UserError(
          `zone ${this.name} is a secondary (${zone.kind}) on ${this.zone.url}: its next transfer would undo any change; point the zone at its primary's API; nothing was changed`,
        ),
      );
    }
    const { failed, changes } = this.plan(zone, before, after, changed);
    const landed: string[] = [];
    for (const batch of batches([...changes.keys()].sort(), changes)) {
      const err = await this.send(batch.map((s) => changes.get(s)!));
      if (!err) {
        landed.push(...batch);
        continue;
      }
      if (err.status !== 422 || batch.length === 1 || NO_COMMENTS.test(err.detail)) {
        for (const s of batch) failed.set(s, this.explain(err, batch));
        continue;
      }
      for (const s of batch) {
        const e = await this.send([changes.get(s)!]);
        if (e) failed.set(s, this.explain(e, [s]));
        else landed.push(s);
      }
    }
    if (landed.length > 0) await this.afterChange(zone);
    return failed;
  }

  /** Each changed system's RRset changes against what the zone holds now, or why it is refused. */
  private plan(
    zone: PdnsZone,
    before: Map<string, DnsRecord[]>,
    after: Map<string, DnsRecord[]>,
    changed: Set<string>,
  ) {
    const now = held(zone);
    const failed = new Map<string, Error>();
    let changes = new Map<string, SystemChanges>();
    // A refused system keeps its RRsets, so another system may not take them over: settle until stable.
    for (let settled = false; !settled;) {
      const leaving = new Set<string>();
      for (const s of changed) {
        if (failed.has(s)) continue;
        const keep = new Set((after.get(s) ?? []).map((r) => rrKey(r.name, r.type)));
        for (const r of before.get(s) ?? []) if (!keep.has(rrKey(r.name, r.type))) leaving.add(rrKey(r.name, r.type));
      }
      changes = new Map();
      settled = true;
      for (const s of [...changed].sort()) {
        if (failed.has(s)) continue;
        const c = systemChanges(s, after.get(s) ?? [], before.get(s) ?? [], now, leaving);
        if ('conflict' in c) {
          failed.set(
            s,
            new UserError(
              `zone ${this.name}: ${s}: ${c.conflict}; nothing was changed for it. Remove the other records or rename the system`,
            ),
          );
          settled = false;
        } else if (c.deletes.length + c.replaces.length > 0) changes.set(s, c);
      }
    }
    return { failed, changes };
  }

  /** One PATCH (deletes first, so a name can change type within it); resolves to the refusal, or null. */
  private async send(systems: SystemChanges[]): Promise<PowerDnsApiError | null> {
    const rrsets: RRSetChange[] = [...systems.flatMap((c) => c.deletes), ...systems.flatMap((c) => c.replaces)];
    this.patches++;
    try {
      await this.api.patch(this.name, rrsets);
      return null;
    } catch (e) {
      if (e instanceof PowerDnsApiError) return e;
      throw e;
    }
  }

  private explain(e: PowerDnsApiError, systems: string[]): Error {
    if (e.status !== 422) return e;
    const who = systems.length === 1 ? systems[0] : `${systems.length} systems`;
    if (NO_COMMENTS.test(e.detail)) {
      return new UserError(
        `zone ${this.name}: ${who}: this PowerDNS backend keeps no RRset comments (${e.detail}), and shipshape marks what it owns with one: use a generic SQL backend (gmysql, gpgsql, gsqlite3, godbc); nothing was changed`,
      );
    }
    return new UserError(
      `zone ${this.name}: ${who}: PowerDNS refused the change (${e.detail}); nothing was changed for it`,
    );
  }

  /**
   * What PowerDNS needs after records changed through the API. The records have landed by now, so a
   * failure here is a warning with what to do, not a failed system.
   */
  private async afterChange(zone: PdnsZone): Promise<void> {
    const steps: [string, () => Promise<void>, string][] = [];
    const soa = zone.rrsets.find((r) => r.type === 'SOA' && normalName(r.name) === normalName(zone.name));
    // Without SOA-EDIT-API PowerDNS leaves the serial alone, and secondaries would never transfer the change.
    if (!zone.soa_edit_api && soa?.records[0]) {
      const content = bumpSoa(soa.records[0].content);
      steps.push([
        'raise the SOA serial',
        () =>
          this.api.patch(this.name, [
            {
              name: soa.name,
              type: 'SOA',
              changetype: 'REPLACE',
              ttl: soa.ttl,
              records: [{ content, disabled: false }],
            },
          ]),
        `set SOA-EDIT-API on the zone (pdnsutil set-meta ${this.name} SOA-EDIT-API DEFAULT) or raise the serial by hand`,
      ]);
    }
    // PATCH rectifies a DNSSEC zone itself when API-RECTIFY is on (default-api-rectify=yes covers an unset one).
    if (zone.dnssec && !zone.api_rectify) {
      steps.push(['rectify the zone', () => this.api.rectify(this.name), `run pdnsutil rectify-zone ${this.name}`]);
    }
    // PowerDNS notifies Master zones on its own when it next checks their serials; this makes it happen now.
    if (this.zone.notify && (zone.kind === 'Master' || zone.kind === 'Producer')) {
      steps.push([
        'send NOTIFY',
        () => this.api.notify(this.name),
        `check primary=yes in pdns.conf, or run pdns_control notify ${this.name}`,
      ]);
    }
    for (const [what, run, fix] of steps) {
      try {
        await run();
      } catch (e) {
        this.deps.log.warn(
          { zone: this.name },
          `PowerDNS zone ${this.name}: the records changed, but asking PowerDNS to ${what} failed: ${(e as Error).message}. To fix: ${fix}`,
        );
      }
    }
  }
}

/** Systems grouped so each PATCH body stays under the budget; a system's changes never split. */
export function batches(systems: string[], changes: Map<string, SystemChanges>): string[][] {
  return groupUnder(
    systems,
    (s) => {
      const c = changes.get(s)!;
      return JSON.stringify([...c.deletes, ...c.replaces]).length;
    },
    BODY_BUDGET,
  );
}
