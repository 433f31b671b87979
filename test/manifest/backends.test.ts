/**
 * Backends are plug-ins: the site schema composes each registered backend's own schema, so a new
 * backend's keys are validated without touching schemas/ or src/manifest.
 */
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import commonSchema from '../../schemas/common.schema.json';
import { composedSiteSchema } from '../../src/manifest/schemas';
import { BACKENDS, backendFor } from '../../src/providers/backends';
import { defineBackend } from '../../src/providers/plugin';

const fake = defineBackend({
  kind: 'dns',
  id: 'fake-dns',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['endpoint'],
    properties: { endpoint: { $ref: 'common.schema.json#/definitions/url' } },
  },
  config: (raw) => raw,
  connect: () => {
    throw new Error('not connected in this test');
  },
});

function validator() {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
  addFormats(ajv);
  for (const k of ['x-shape', 'x-backends']) ajv.addKeyword({ keyword: k, schemaType: 'string' });
  ajv.addKeyword({ keyword: 'x-secret', schemaType: 'boolean' });
  ajv.addSchema(commonSchema);
  return ajv.compile(composedSiteSchema([...BACKENDS, fake]));
}

const site = (zone: Record<string, unknown>) => ({
  apiVersion: 'shipshape.dev/v1',
  kind: 'Site',
  spec: { nets: { n: { cidr: '198.51.100.0/24' } }, dns: { zones: [zone] } },
});

describe('backend registry and schema composition', () => {
  const validate = validator();

  it('validates a new backend’s keys from its own schema', () => {
    expect(
      validate(site({ name: 'dev.example.com', backend: 'fake-dns', endpoint: 'https://dns.example.com/api' })),
    ).toBe(true);
  });

  it('refuses a missing key of the chosen backend and a key of another backend', () => {
    expect(validate(site({ name: 'dev.example.com', backend: 'fake-dns' }))).toBe(false);
    expect(validate.errors?.map((e) => e.message)).toContain("must have required property 'endpoint'");
    expect(
      validate(
        site({ name: 'dev.example.com', backend: 'fake-dns', endpoint: 'https://x.example.com/', zoneFile: '/etc/z' }),
      ),
    ).toBe(false);
    expect(
      validate.errors?.some(
        (e) =>
          e.keyword === 'additionalProperties' &&
          (e.params as { additionalProperty: string }).additionalProperty === 'zoneFile',
      ),
    ).toBe(true);
  });

  it('refuses a backend id nobody registered, naming the known ones', () => {
    expect(validate(site({ name: 'dev.example.com', backend: 'nope' }))).toBe(false);
    expect(validate.errors?.find((e) => e.keyword === 'enum')?.params).toEqual({
      allowedValues: ['bind-ssh', 'rfc2136', 'powerdns', 'fake-dns'],
    });
    expect(() => backendFor('vms', 'proxmox')).toThrow(
      'shipshape.yaml vms names backend `proxmox`, which shipshape does not have (known: vsphere)',
    );
  });

  it('takes a classless reverse zone name (RFC 2317 `128/26.…`) for a zone and a net, and nothing looser', () => {
    const classless = (name: string) => ({
      apiVersion: 'shipshape.dev/v1',
      kind: 'Site',
      spec: {
        nets: { n: { cidr: '198.51.100.128/26', reverseZone: name } },
        dns: { zones: [{ name, backend: 'fake-dns', endpoint: 'https://dns.example.com/api' }] },
      },
    });
    expect(validate(classless('128/26.100.51.198.in-addr.arpa'))).toBe(true);
    expect(validate(classless('128-191.100.51.198.in-addr.arpa'))).toBe(true);
    expect(validate(classless('100.51.198/in-addr.arpa'))).toBe(false);
  });

  it('every registered backend has a unique (kind, id) and an object schema', () => {
    const keys = BACKENDS.map((b) => `${b.kind}/${b.id}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const b of BACKENDS) expect(b.schema).toMatchObject({ type: 'object', additionalProperties: false });
  });
});
