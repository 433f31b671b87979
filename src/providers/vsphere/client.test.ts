/** Transport failures without vcsim: a local TCP server that drops every connection it accepts. */
import net from 'node:net';
import { TransientError } from '../../engine/contract';
import { VimClient } from './client';
import { ref } from './soap/xml';

let server: net.Server;
let port: number;
let accepted = 0;

beforeAll(async () => {
  server = net.createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const client = (): VimClient =>
  new VimClient({ url: `https://127.0.0.1:${port}/sdk`, username: 'u', password: 'p', retries: 2, timeoutMs: 5000 });

test('a dropped connection on a read is retried, then reported as a TransientError', async () => {
  accepted = 0;
  const err = await client()
    .serviceContent()
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TransientError);
  expect((err as Error).message).toContain(`vSphere vimServiceVersions.xml to https://127.0.0.1:${port}/sdk`); // the first read: version negotiation
  expect(accepted).toBe(3);
});

test('a call that changes something (a task) is never repeated by the client', async () => {
  const c = client();
  (c as unknown as { cookie: string }).cookie = 'vmware_soap_session="x"'; // skip Login: this is about the task call
  accepted = 0;
  const err = await c
    .call('PowerOnVM_Task', ref('_this', { type: 'VirtualMachine', value: 'vm-1' }))
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TransientError);
  expect(accepted).toBe(1);
});
