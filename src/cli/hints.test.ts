/** Connection and login errors end with the site-config key to check and where its secret comes from. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, removeDir, tempDir } from '../../test/helpers/daemon';
import { keygen, readFileSecret } from '../../test/helpers/sshd';
import { resolveSecret } from '../manifest';
import { knownHostsPolicy } from '../transport/host-key';
import { SshPool } from '../transport/ssh';
import { axfr } from '../providers/dns/dns-tools';
import type { SiteConfig } from '../manifest/site';
import { VimClient } from '../providers/vsphere/client';
import { IdoitAuthError } from '../providers/idoit/errors';
import { InvalidLoginError } from '../providers/vsphere/soap/faults';
import { UserError } from '../engine/contract';
import { describeError } from './errors';
import { rememberSite } from './hints';

const site = (url: string) =>
  ({
    // Secret fields as the loader hands them over: references, never values.
    vms: { backend: 'vsphere', url, username: { ref: '${env:VC_USER}' }, password: { ref: '${env:VC_PASSWORD}' } },
    ipam: {
      backend: 'idoit',
      url: 'http://cmdb.example.com/src/jsonrpc.php',
      apiKey: { ref: '${file:/etc/shipshape/idoit.key}' },
    },
    dns: { zones: [] },
    dhcp: { servers: [] },
  }) as unknown as SiteConfig;

test('a refused vCenter connection names vms.url, without a stack or an error class', async () => {
  const url = `https://127.0.0.1:${await freePort()}/sdk`;
  rememberSite(site(url));
  const c = new VimClient({ url, username: 'u', password: 'p', retries: 0, timeoutMs: 5000 } as ConstructorParameters<
    typeof VimClient
  >[0]);
  const e = await c.serviceContent().then(
    () => undefined,
    (x: unknown) => x,
  );
  const text = describeError(e, false);
  expect(text).toMatch(/^error: vSphere \S+ to https:\/\/127\.0\.0\.1:\d+\/sdk: ECONNREFUSED/);
  expect(text).not.toMatch(/TransientError/);
  expect(text).toContain(`hint: shipshape cannot reach vCenter: check vms.url in shipshape.yaml (${url})`);
});

test('a refused login names the variables the password and key are read from', () => {
  rememberSite(site('https://vc.example.com/sdk'));
  const login = describeError(
    new InvalidLoginError('InvalidLogin', 'vSphere Login: InvalidLogin', undefined, {}),
    false,
  );
  expect(login).toContain(
    'hint: vCenter refused the login: check vms.username (read from ${env:VC_USER}) and vms.password (read from ${env:VC_PASSWORD})',
  );
  const idoit = describeError(new IdoitAuthError('http://cmdb.example.com/src/jsonrpc.php', 'Invalid API key.'), false);
  expect(idoit).toContain('hint: ipam reads apiKey from ${file:/etc/shipshape/idoit.key}');
  // ipam and cmdb reading the same secrets: said once.
  const both = site('https://vc.example.com/sdk') as unknown as Record<string, Record<string, unknown>>;
  const idoitSection = { ...both.ipam!, username: { ref: '${env:SHIPSHAPE_IDOIT_USER}' } };
  rememberSite({ ...both, ipam: idoitSection, cmdb: idoitSection } as unknown as SiteConfig);
  expect(
    describeError(new IdoitAuthError('http://cmdb.example.com/src/jsonrpc.php', 'Invalid API key.'), false).split(
      '\n',
    )[1],
  ).toBe(
    'hint: ipam and cmdb read apiKey from ${file:/etc/shipshape/idoit.key}, username from ${env:SHIPSHAPE_IDOIT_USER}',
  );
});

test('a secret that is not set names where the site file asks for it, and no debugging line', async () => {
  const root = tempDir('hint-secret');
  try {
    mkdirSync(join(root, 'sites'));
    writeFileSync(
      join(root, 'sites', 'berlin.yaml'),
      '# apiKey: ${env:SHIPSHAPE_HINT_KEY} (a comment is no use)\nspec:\n  ipam:\n    apiKey: ${env:SHIPSHAPE_HINT_KEY}\n  cmdb: { apiKey: "${env:SHIPSHAPE_HINT_KEY}" }\n',
    );
    rememberSite({ ...site('https://vc.example.com/sdk'), root });
    delete process.env.SHIPSHAPE_HINT_KEY;
    const e = await resolveSecret({ ref: '${env:SHIPSHAPE_HINT_KEY}' }, root).catch((x: unknown) => x);
    expect(describeError(e, false)).toBe(
      'error: secret ${env:SHIPSHAPE_HINT_KEY} is not set: export SHIPSHAPE_HINT_KEY in the environment that runs shipshape\n' +
        'hint: ${env:SHIPSHAPE_HINT_KEY} is named at sites/berlin.yaml:4:13, sites/berlin.yaml:5:20',
    );
  } finally {
    removeDir(root);
  }
});

test('a known_hosts file that is missing says how to make it and where the site names it', () => {
  const root = tempDir('hint-known-hosts');
  try {
    writeFileSync(
      join(root, 'shipshape.yaml'),
      'spec:\n  dhcp:\n    ssh: { host: 127.0.0.1, knownHosts: ssh/known_hosts }\n',
    );
    rememberSite({ ...site('https://vc.example.com/sdk'), root });
    let e: unknown;
    try {
      knownHostsPolicy(join(root, 'ssh', 'known_hosts'), '127.0.0.1', 10022);
    } catch (x) {
      e = x;
    }
    expect(describeError(e, false)).toBe(
      `error: cannot read known_hosts file ${join(root, 'ssh', 'known_hosts')} (ENOENT): create it with the server's host key, checked out of band (e.g. \`ssh-keyscan -p 10022 127.0.0.1\` on a trusted path, then compare fingerprints), or fix knownHosts in the site file\n` +
        'hint: ssh/known_hosts is named at shipshape.yaml:3:41',
    );
  } finally {
    removeDir(root);
  }
});

test("a DNS server that refuses the zone transfer's connection: one line, the zone's place in the site file, what to check", async () => {
  const root = tempDir('hint-axfr');
  try {
    writeFileSync(join(root, 'shipshape.yaml'), 'spec:\n  dns:\n    zones:\n      - name: dev.example.com\n');
    rememberSite({ ...site('https://vc.example.com/sdk'), root });
    const port = await freePort();
    const e = await axfr(
      { name: 'dev.example.com', server: { host: '127.0.0.1', port } } as Parameters<typeof axfr>[0],
      () => Promise.resolve(''),
    ).catch((x: unknown) => x);
    const [first, hint, ...rest] = describeError(e, false).split('\n');
    expect(first).toMatch(
      new RegExp(`^error: AXFR of dev\\.example\\.com from 127\\.0\\.0\\.1:${port}: .*connection refused`),
    );
    expect(hint).toBe(
      `hint: shipshape cannot reach the DNS server of zone dev.example.com (127.0.0.1:${port}): check that zone's server in the site file (shipshape.yaml:4:9); is the server up, reachable from this host, and does it allow zone transfers (AXFR) from it?`,
    );
    expect(rest).toEqual([]);
  } finally {
    removeDir(root);
  }
});

test('a CA file the site names that cannot be read: where the site names it', () => {
  const root = tempDir('hint-ca');
  try {
    writeFileSync(
      join(root, 'shipshape.yaml'),
      'spec:\n  vms:\n    url: https://vc.example.com/sdk\n    tls: { caFile: secrets/vc-ca.pem }\n',
    );
    rememberSite({ ...site('https://vc.example.com/sdk'), root });
    const e = new Error(
      `vms.tls.caFile ${join(root, 'secrets', 'vc-ca.pem')} cannot be read (ENOENT); fix the path relative to ${root}`,
    );
    expect(describeError(e, false)).toBe(
      `error: ${e.message}\nhint: secrets/vc-ca.pem is named at shipshape.yaml:4:20`,
    );
    // A URL's path is no file: no hint from it.
    expect(describeError(new Error('GET https://vc.example.com/sdk failed: 500'), false)).toBe(
      'error: GET https://vc.example.com/sdk failed: 500\n(run with SHIPSHAPE_DEBUG=1 for details)',
    );
  } finally {
    removeDir(root);
  }
});

test("a vSphere name the site sets that vCenter does not have: the key's place in the site file", () => {
  const root = tempDir('hint-key');
  try {
    writeFileSync(
      join(root, 'shipshape.yaml'),
      'spec:\n  vms:\n    backend: vsphere\n    templates: { debian12: tpl-debian12-old }\n',
    );
    rememberSite({ ...site('https://vc.example.com/sdk'), root });
    const missing = new UserError(
      'vSphere template "DC0/vm/tpl-debian12-old" not found; check vms.templates.debian12 in shipshape.yaml',
    );
    expect(describeError(missing, false)).toBe(
      `error: ${missing.message}\nhint: vms.templates.debian12 is set at shipshape.yaml:4:28`,
    );
    // A key that is not there: where its section is.
    const none = new UserError('no vSphere template for OS "rocky9": add vms.templates.rocky9 to shipshape.yaml');
    expect(describeError(none, false)).toBe(
      `error: ${none.message}\nhint: vms.templates is written at shipshape.yaml:4:16`,
    );
  } finally {
    removeDir(root);
  }
});

test('an SSH server that refuses the connection: one line, where the site sets its port, what to check', async () => {
  const root = tempDir('hint-ssh');
  try {
    const port = await freePort();
    writeFileSync(
      join(root, 'shipshape.yaml'),
      `spec:\n  dhcp:\n    servers:\n      - ssh: { host: 127.0.0.1, port: ${port}, user: shipshape }\n`,
    );
    rememberSite({ ...site('https://vc.example.com/sdk'), root });
    keygen(join(root, 'key'), 'hint test');
    const pool = new SshPool({ readSecret: readFileSecret, root, connectAttempts: 1 });
    const e = await pool
      .get({
        host: '127.0.0.1',
        port,
        user: 'shipshape',
        privateKey: { ref: `${'$'}{file:${join(root, 'key')}}` },
        hostKeyFingerprint: 'SHA256:' + 'A'.repeat(43),
      })
      .catch((x: unknown) => x);
    expect(describeError(e, false)).toBe(
      `error: ssh shipshape@127.0.0.1:${port}: connection refused (ECONNREFUSED): no SSH server listens there\n` +
        `hint: shipshape cannot reach the SSH server 127.0.0.1 port ${port}: check the ssh host and port in the site file (shipshape.yaml:4:33); is sshd up there, and is it reachable from this host (firewall)?`,
    );
  } finally {
    removeDir(root);
  }
});

test('a full net: where the site declares it', () => {
  const root = tempDir('hint-net');
  try {
    writeFileSync(join(root, 'shipshape.yaml'), 'spec:\n  nets:\n    dev-net:\n      cidr: 198.51.100.0/28\n');
    rememberSite({ ...site('https://vc.example.com/sdk'), root });
    const full = new UserError(
      'net "dev-net" (198.51.100.0/28, range 198.51.100.1–198.51.100.14) has no free address left (12 held in i-doit, 2 reserved in shipshape.yaml, 0 DHCP range(s)); free addresses in i-doit, widen the range, or use another net.',
    );
    expect(describeError(full, false).split('\n')[1]).toBe(
      'hint: net dev-net is declared at shipshape.yaml:4:7; the systems that failed on it get an address on the next run once there is one',
    );
  } finally {
    removeDir(root);
  }
});

test('a vCenter certificate that is not trusted or does not match the pin: where the site sets vms.tls', () => {
  const root = tempDir('hint-tls');
  try {
    writeFileSync(
      join(root, 'shipshape.yaml'),
      'spec:\n  vms:\n    backend: vsphere\n    tls: { thumbprint: "AA:BB" }\n',
    );
    rememberSite({ ...site('https://vc.example.com/sdk'), root });
    const e = new Error(
      'vSphere server certificate does not match vms.tls.thumbprint (server presented 44AB); refusing to connect',
    );
    expect(describeError(e, false)).toBe(`error: ${e.message}\nhint: vms.tls is set at shipshape.yaml:4:10`);
  } finally {
    removeDir(root);
  }
});

test('an i-doit certificate that is not trusted: where the ipam and cmdb sections are', () => {
  const root = tempDir('hint-idoit-tls');
  try {
    writeFileSync(
      join(root, 'shipshape.yaml'),
      'spec:\n  ipam:\n    backend: idoit\n    tls: { caFile: secrets/ca.pem }\n  cmdb:\n    backend: idoit\n',
    );
    const s = site('https://vc.example.com/sdk') as unknown as Record<string, unknown>;
    rememberSite({ ...s, cmdb: s.ipam, root } as unknown as SiteConfig);
    const e = new UserError(
      'i-doit TLS verification of https://cmdb.example.com/src/jsonrpc.php failed (SELF_SIGNED_CERT_IN_CHAIN): trust its CA with tls.caFile or pin its certificate with tls.thumbprint in the ipam / cmdb sections (backend: idoit) of shipshape.yaml',
    );
    expect(describeError(e, false).split('\n')[1]).toBe(
      'hint: ipam.tls at shipshape.yaml:4:10; cmdb at shipshape.yaml:6:5',
    );
  } finally {
    removeDir(root);
  }
});
