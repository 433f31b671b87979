/** `shipshape validate` refuses i-doit (ipam or cmdb backend) over plain http outside a lab: the API key would travel in clear. */
import { SITE, cleanupRepos, lines, load } from './tmp-repo';

afterAll(cleanupRepos);

it('an i-doit url over http is an error on a real site, fine on a lab site', async () => {
  const site = SITE.replace('url: https://127.0.0.1:18080', 'url: http://cmdb.example.com');
  expect(site).toContain('http://cmdb.example.com');
  expect(lines(await load({ 'shipshape.yaml': site })).filter((l) => l.includes('ipam.url'))).toEqual([
    expect.stringMatching(
      /^shipshape\.yaml:\d+:\d+: ipam\.url is plain http: the i-doit API key would cross the network in clear text\. Use https:\/\//,
    ),
  ]);
  expect(
    lines(await load({ 'shipshape.yaml': site.replace('spec:\n', 'spec:\n  lab: true\n') })).filter((l) =>
      l.includes('ipam.url'),
    ),
  ).toEqual([]);
  expect(
    lines(await load({ 'shipshape.yaml': site.replace('http://cmdb', 'https://cmdb') })).filter((l) =>
      l.includes('ipam.url'),
    ),
  ).toEqual([]);
});
