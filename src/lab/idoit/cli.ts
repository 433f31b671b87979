/**
 * Runs the emulator as a process for the lab: `node dist/src/lab/idoit/cli.js`, configured by environment
 * (so the API key and password are not on the command line):
 *   IDOIT_EMULATOR_STATE (state file, required), IDOIT_EMULATOR_API_KEY (required), IDOIT_EMULATOR_PORT
 *   (default 8090), IDOIT_EMULATOR_USER / IDOIT_EMULATOR_PASSWORD (optional user), IDOIT_EMULATOR_NETS
 *   (JSON: [{"title":"lab-net","cidr":"10.1.0.0/24","gateway":"10.1.0.1","dhcp":[{"from":"…","to":"…"}]}]),
 *   IDOIT_EMULATOR_API_VERSION (1.10 | 1.14 | 2.x, default 2.x; `--api-version X` on the command line wins),
 *   IDOIT_EMULATOR_QUICKPURGE (1: the tenant setting cmdb.quickpurge is on).
 * Listens on 127.0.0.1 only.
 */
import { parseApiVersion, startIdoitEmulator, type NetSeed } from './index';

async function main(): Promise<void> {
  const env = process.env;
  const stateFile = env.IDOIT_EMULATOR_STATE;
  const apiKey = env.IDOIT_EMULATOR_API_KEY;
  if (!stateFile || !apiKey) throw new Error('set IDOIT_EMULATOR_STATE and IDOIT_EMULATOR_API_KEY');
  const nets = env.IDOIT_EMULATOR_NETS ? (JSON.parse(env.IDOIT_EMULATOR_NETS) as NetSeed[]) : [];
  const users = env.IDOIT_EMULATOR_USER
    ? [{ username: env.IDOIT_EMULATOR_USER, password: env.IDOIT_EMULATOR_PASSWORD ?? '' }]
    : [];
  const flag = process.argv.indexOf('--api-version');
  const apiVersion = parseApiVersion(
    flag >= 0 ? process.argv[flag + 1] : env.IDOIT_EMULATOR_API_VERSION,
    'api version',
  );
  const quickPurge = env.IDOIT_EMULATOR_QUICKPURGE === '1';
  const emu = await startIdoitEmulator({
    port: Number(env.IDOIT_EMULATOR_PORT ?? 8090),
    stateFile,
    apiKey,
    users,
    nets,
    apiVersion,
    quickPurge,
  });
  console.log(`i-doit emulator (API add-on ${apiVersion}) listening at ${emu.endpoint} (state ${stateFile})`);
  const stop = () => void emu.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((e: unknown) => {
  console.error(`i-doit emulator: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
