#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from './config/load.js';
import { Gateway } from './gateway.js';
import { checkTransportConfig } from './transport/select.js';

const USAGE = `Usage: sluice [--config FILE] [--print-config] [--<key.path> VALUE ...]

Starts the Sluice WebSocket gateway. Configuration comes from defaults, then the
config file (YAML or JSON), then SLUICE_* environment variables, then flags:
  --port 9000  --outbound.maxQueueBytes=2097152  --transport uws
See README.md for every key.`;

interface Args {
  file?: string;
  print: boolean;
  flags: Array<[string, string]>;
}

function parseArgs(argv: string[]): Args | 'help' | 'version' {
  const args: Args = { print: false, flags: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--version') return 'version';
    if (arg === '--print-config') {
      args.print = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    let value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`option --${name} needs a value`);
    if (name === 'config') args.file = value;
    else args.flags.push([name, value]);
  }
  return args;
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parseArgs>;
  let config;
  try {
    args = parseArgs(process.argv.slice(2));
    if (args === 'help') {
      console.log(USAGE);
      return;
    }
    if (args === 'version') {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
      console.log(pkg.version);
      return;
    }
    config = loadConfig({ file: args.file ?? process.env.SLUICE_CONFIG, env: withoutConfigVar(process.env), flags: args.flags });
    await checkTransportConfig(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`sluice: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  if (args.print) {
    console.log(JSON.stringify(config, null, 2));
    return;
  }
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({ config });
  } catch (err) {
    console.error(`sluice: cannot start: ${(err as Error).message}`);
    process.exit(1);
  }
  let signals = 0;
  const stop = (signal: string): void => {
    if (++signals > 1) {
      gateway.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    gateway.log.info({ signal }, 'signal received');
    void gateway.shutdown().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function withoutConfigVar(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { SLUICE_CONFIG: _ignored, ...rest } = env;
  return rest;
}

void main();
