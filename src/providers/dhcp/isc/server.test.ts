/** The operator's dhcpd.conf as shipshape reads it for adoption: which hosts it can move, and the move itself. */
import { moveOutHandHosts, parseForeignHosts } from './server';

const conf = `ddns-update-style none;
subnet 198.51.100.0 netmask 255.255.255.0 { range 198.51.100.200 198.51.100.250; }
host web-01 { # by the old pipeline
  hardware ethernet 00:50:56:3F:00:01;
  fixed-address 198.51.100.11;
  option host-name "web-01";
}
host web-02 {
  hardware ethernet 00:50:56:3f:00:02;
  fixed-address 198.51.100.12;
  option routers 198.51.100.254;
}
group {
  next-server 198.51.100.9;
  host web-03 { hardware ethernet 00:50:56:3f:00:03; fixed-address 198.51.100.13; }
}
include "/etc/dhcp/shipshape.conf";
`;

test('a top-level host with only what shipshape writes is adoptable; other statements or a group are said why not', () => {
  const hosts = parseForeignHosts(conf, 'dhcpd.conf');
  expect(hosts.map((h) => [h.name, h.mac, h.ip, h.hostname, h.notAdoptable])).toEqual([
    ['web-01', '00:50:56:3f:00:01', '198.51.100.11', 'web-01', undefined],
    [
      'web-02',
      '00:50:56:3f:00:02',
      '198.51.100.12',
      undefined,
      expect.stringContaining('`option routers 198.51.100.254;`'),
    ],
    ['web-03', '00:50:56:3f:00:03', '198.51.100.13', undefined, expect.stringContaining('inside a group')],
  ]);
});

test('moving out comments exactly the hand copy of a wanted reservation; every other byte stays', () => {
  const wanted = new Map([
    ['web-01', { mac: '00:50:56:3f:00:01', ip: '198.51.100.11', hostname: 'web-01' }],
    ['web-02', { mac: '00:50:56:3f:00:02', ip: '198.51.100.12', hostname: 'web-02' }], // not adoptable: stays
    ['web-09', { mac: '00:50:56:3f:00:09', ip: '198.51.100.19', hostname: 'web-09' }],
  ]);
  const { text, moved } = moveOutHandHosts(conf, 'dhcpd.conf', '/etc/dhcp/shipshape.conf', wanted);
  expect(moved).toEqual(['web-01']);
  const block = conf.slice(conf.indexOf('host web-01'), conf.indexOf('}\nhost web-02') + 1);
  const note = `# moved to /etc/dhcp/shipshape.conf (shipshape adopt):\n${block
    .split('\n')
    .map((l) => `# ${l}`)
    .join('\n')}`;
  expect(text).toBe(conf.replace(block, note));
  expect(parseForeignHosts(text, 'dhcpd.conf').map((h) => h.name)).toEqual(['web-02', 'web-03']);
  // A different address is not the system's copy: nothing moves.
  const other = new Map([['web-01', { mac: '00:50:56:3f:00:01', ip: '198.51.100.99', hostname: 'web-01' }]]);
  expect(moveOutHandHosts(conf, 'dhcpd.conf', '/x', other)).toEqual({ text: conf, moved: [] });
});
