/**
 * VimClient against a real vcsim (TLS, -username/-password): session handling, TLS trust
 * options, typed faults. vcsim differences are named where they shape a test.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { UserError } from '../../src/engine/contract';
import { VimClient } from '../../src/providers/vsphere/client';
import { retrieveObjects, retrieveView } from '../../src/providers/vsphere/inventory';
import {
  InvalidLoginError,
  ManagedObjectNotFoundError,
  NotAuthenticatedError,
} from '../../src/providers/vsphere/soap/faults';
import { ref } from '../../src/providers/vsphere/soap/xml';
import { TlsPinError } from '../../src/providers/vsphere/tls';
import { adminClient, PASSWORD, USER } from '../helpers/vsphere-site';
import { SIM_MODES, startVcsim, type Vcsim } from '../helpers/vcsim';

describe.each(SIM_MODES)('%s', (mode) => {
  let sim: Vcsim;
  beforeAll(async () => {
    sim = await startVcsim({ username: USER, password: PASSWORD, mode });
  }, 300_000); // the first run builds the harness (about 30 s on 2 idle cores)
  afterAll(async () => {
    await sim?.stop();
  });

  async function sessionKeys(c: VimClient): Promise<string[]> {
    const sc = await c.serviceContent();
    const [sm] = await retrieveObjects(c, [sc.sessionManager], [{ type: 'SessionManager', paths: ['sessionList'] }]);
    return (sm?.props.get('sessionList')?.children ?? []).map((s) => s.children.find((k) => k.name === 'key')!.text);
  }

  test('logs in with the CA from caFile, reads, and Logout closes the session on the server', async () => {
    const observer = adminClient(sim);
    const before = await sessionKeys(observer);
    const c = adminClient(sim);
    const sc = await c.serviceContent();
    const vms = await retrieveView(c, sc.rootFolder, [{ type: 'VirtualMachine', paths: ['name'] }]);
    expect(vms.map((v) => v.props.get('name')?.text).sort()).toEqual([
      'DC0_C0_RP0_VM0',
      'DC0_C0_RP0_VM1',
      'DC0_C0_RP0_VM2',
    ]);
    expect(await sessionKeys(observer)).toHaveLength(before.length + 1);
    await c.logout();
    expect(await sessionKeys(observer)).toHaveLength(before.length);
    await observer.logout();
  });

  test('parallel first calls share one Login: one session, not one per call', async () => {
    const observer = adminClient(sim);
    const before = await sessionKeys(observer);
    const c = adminClient(sim);
    const sc = await c.serviceContent();
    const body =
      ref('_this', sc.viewManager) +
      ref('container', sc.rootFolder) +
      '<type>VirtualMachine</type><recursive>true</recursive>';
    await Promise.all(Array.from({ length: 5 }, () => c.call('CreateContainerView', body)));
    expect(await sessionKeys(observer)).toHaveLength(before.length + 1);
    await c.logout();
    await observer.logout();
  });

  test('a wrong password is an InvalidLogin error that does not contain the password', async () => {
    const c = new VimClient({ url: sim.url, username: USER, password: 'wrong&<pw>', tls: { caFile: sim.caFile } });
    const err = await c.login().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidLoginError);
    expect((err as InvalidLoginError).fault).toBe('InvalidLogin');
    expect((err as Error).message).toMatch(/password/);
    expect((err as Error).message).not.toContain('wrong&<pw>');
  });

  // vcsim lets property-collector reads through without a session (vCenter does not), so the lost
  // session is detected with CreateContainerView, which vcsim does check.
  test('re-logs in once when the session was lost, and the call succeeds', async () => {
    const c = adminClient(sim);
    await c.login();
    c.dropSessionForTest();
    const sc = await c.serviceContent();
    const view = await c.call(
      'CreateContainerView',
      ref('_this', sc.viewManager) +
        ref('container', sc.rootFolder) +
        '<type>VirtualMachine</type><recursive>true</recursive>',
    );
    expect(view.children[0]?.attrs.type).toBe('ContainerView');
    await c.logout();
  });

  test('parallel calls that all hit the lost session share one re-login and all succeed', async () => {
    const observer = adminClient(sim);
    const c = adminClient(sim);
    await c.login();
    const before = await sessionKeys(observer);
    c.dropSessionForTest();
    const sc = await c.serviceContent();
    const body =
      ref('_this', sc.viewManager) +
      ref('container', sc.rootFolder) +
      '<type>VirtualMachine</type><recursive>true</recursive>';
    await Promise.all(Array.from({ length: 6 }, () => c.call('CreateContainerView', body)));
    expect(await sessionKeys(observer)).toHaveLength(before.length + 1); // the dropped session still counts until it times out
    await c.logout();
    await observer.logout();
  });

  test('without re-login the lost session surfaces as NotAuthenticated', async () => {
    const c = adminClient(sim);
    await c.login();
    c.dropSessionForTest();
    const sc = await c.serviceContent();
    const err = await c
      .call(
        'CreateContainerView',
        ref('_this', sc.viewManager) +
          ref('container', sc.rootFolder) +
          '<type>VirtualMachine</type><recursive>true</recursive>',
        { noRelogin: true },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAuthenticatedError);
  });

  test('a missing object is a ManagedObjectNotFound error naming the object', async () => {
    const c = adminClient(sim);
    const err = await c
      .call('PowerOnVM_Task', ref('_this', { type: 'VirtualMachine', value: 'vm-99999' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManagedObjectNotFoundError);
    expect((err as ManagedObjectNotFoundError).object).toEqual({ type: 'VirtualMachine', value: 'vm-99999' });
    expect((err as Error).message).toContain('VirtualMachine:vm-99999');
    await c.logout();
  });

  describe('TLS', () => {
    const pem = (): string => fs.readFileSync(sim.caFile, 'utf8');

    test('refuses the untrusted certificate when neither caFile nor thumbprint is given', async () => {
      const c = new VimClient({ url: sim.url, username: USER, password: PASSWORD, retries: 0 });
      const err = await c.login().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(/TLS verification .* failed.*vms\.tls\.caFile/);
    });

    test('a pinned SHA-256 thumbprint connects without any CA', async () => {
      const thumbprint = new crypto.X509Certificate(pem()).fingerprint256;
      const c = new VimClient({ url: sim.url, username: USER, password: PASSWORD, tls: { thumbprint } });
      await c.login();
      expect(c.loggedIn).toBe(true);
      await c.logout();
    });

    test('a pinned SHA-1 thumbprint (as the vSphere UI shows it) connects too', async () => {
      const thumbprint = new crypto.X509Certificate(pem()).fingerprint;
      const c = new VimClient({ url: sim.url, username: USER, password: PASSWORD, tls: { thumbprint } });
      await c.login();
      await c.logout();
    });

    test('a wrong thumbprint is refused, naming the certificate the server presented', async () => {
      const c = new VimClient({
        url: sim.url,
        username: USER,
        password: PASSWORD,
        tls: { thumbprint: 'AB'.repeat(32) },
      });
      const err = await c.login().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TlsPinError);
      expect((err as Error).message).toContain(new crypto.X509Certificate(pem()).fingerprint256.replace(/:/g, ''));
    });

    test('plain http is refused', () => {
      expect(
        () => new VimClient({ url: sim.url.replace('https:', 'http:'), username: USER, password: PASSWORD }),
      ).toThrow(/must be https/);
    });
  });
});
