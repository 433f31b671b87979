/**
 * Which resources a run changed, per kind: serve's change-feed run plans from the observations the
 * feeds keep, so after its apply it reads exactly these again (through the feed) and the status page
 * shows the world after the run, not the one before it. The engine is left as it is: the providers
 * handed to it are wrapped, and every create, update, delete and adoption notes the ids it touched
 * (the resource it was given and the one it returned: a create's new id is only known from there).
 */
import type { ObservedResource, Provider, ResourceKind } from '../engine/contract';

/** The provider methods that change a resource, and which argument holds the resource they were given. */
const CHANGING = new Map<PropertyKey, number | undefined>([
  ['create', undefined],
  ['adoptCreated', undefined],
  ['update', 2],
  ['delete', 1],
  ['adopt', 1],
]);

export class TouchedResources {
  private readonly ids = new Map<ResourceKind, Set<string>>();

  /** The same providers (same prototype, same state), each change noted here. */
  wrap(providers: Provider[]): Provider[] {
    return providers.map(
      (p) =>
        new Proxy(p, {
          get: (target, key) => {
            const v = Reflect.get(target, key, target) as unknown;
            if (typeof v !== 'function') return v;
            const fn = v as (...args: unknown[]) => unknown;
            if (!CHANGING.has(key)) return fn.bind(target);
            const given = CHANGING.get(key);
            return async (...args: unknown[]) => {
              if (given !== undefined) this.note(target.kind, args[given]);
              const out = await fn.apply(target, args);
              this.note(target.kind, out);
              return out;
            };
          },
        }),
    );
  }

  /** Kind by kind, the ids to read again. */
  byKind(): [ResourceKind, string[]][] {
    return [...this.ids].map(([kind, ids]) => [kind, [...ids].sort()]);
  }

  private note(kind: ResourceKind, r: unknown): void {
    const id = (r as ObservedResource | undefined)?.id;
    if (typeof id !== 'string') return;
    this.ids.set(kind, (this.ids.get(kind) ?? new Set()).add(id));
  }
}
