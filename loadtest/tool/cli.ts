import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flatSummary, htmlReport } from './html-report.js';
import type { Dialect } from './plan.js';
import { runLoad, type RunResult } from './runner.js';
import { BASE_KNOBS, SCENARIOS, type Knobs } from './scenarios.js';
import { SLUICE_CLI, spawnServer, type ServerProcess } from '../../devkit/process.js';

const KNOB_FLAGS: Record<string, keyof Knobs> = {
  subscribers: 'subscribers',
  publishers: 'publishers',
  rate: 'rate',
  size: 'size',
  channels: 'channels',
  keys: 'keys',
  'slow-fraction': 'slowFraction',
  devices: 'devices',
  'hot-fraction': 'hotFraction',
  'hot-factor': 'hotFactor',
  rooms: 'rooms',
  members: 'members',
  drops: 'drops',
  churn: 'churn',
  'sample-every': 'sampleEvery',
};

/** Hard caps: the tool must stay bounded whatever it is asked. */
const MAX_DURATION_S = 3600;
const MAX_CLIENTS = 60_000;

const USAGE = `Usage: npm run loadtest -- <scenario> [options] [sluice config flags]

Scenarios:
${Object.values(SCENARIOS)
  .map((s) => `  ${s.name.padEnd(8)} ${s.description}`)
  .join('\n')}

  adversary  every known attack on the memory budget and the event loop, beside a bystander
             (own options: --budget-mib 64 --transport ws|uws --broker memory|redis --patterns a,b --short
             --ping-every-ms 10 --attack-nice 10 --gateway-args=... --node-options=...; adversary --help lists them)
  market     keyed market data at the issue's size: bytes with deltas vs whole values, CPU per delivery
             with and without maxRate contracts, snapshot time at 10,000 keys (own options: --instruments
             1000 --rate 5000 --subscribers 1000 --paced 0.1 --seconds 5 --snapshot-keys 10000 --transport
             ws|uws --out DIR)
  hooks      the cost of hooks side by side (off, JWT, each hook), hook calls/s at saturation, refresh,
             a bystander beside a 2 s backend (own options: --short --rounds --window-ms --samples
             --saturate-ms --idle --refresh-ms --bystander-ms --flood-rate --out DIR)
  presence   presence cost side by side: member churn with presence off, batched and at interval 0,
             memory and Redis (two nodes); a bystander beside paged listings of a 100,000-member channel
             (own options: npm run loadtest -- presence --help)

Target (loopback only unless --allow-remote):
  --url ws://127.0.0.1:8080/   an existing Sluice server
  --spawn                      start Sluice (src/cli.ts) for the run; unknown --key.path flags
                               (e.g. --transport uws, --outbound.maxQueueBytes 2097152,
                               --channels '[{"pattern":"market.*","policy":"conflate"}]') go to it
  --server-pid PID             sample that process's CPU and RSS from /proc (automatic with --spawn)
  --dialect sluice|raw|socketio  protocol of the target (default sluice)
  --batch                      offer the sluice.batch subprotocol: batch frames where the server
                               selects it, each event counted (docs/protocol.md)
  --window-bytes B             every subscriber asks for a receive window of B bytes before its
                               first sub, counts what it reads and reports it with recv every B/2;
                               a slow subscriber stops reporting when it stops reading (sluice only;
                               docs/protocol.md, window)
Run:
  --duration S (10)  --workers N (2)  --drain-ms MS (3000)  --out DIR (loadtest/results)
  --warmup-ms MS (0)  publish this long first with every subscriber reading (the slow ones stop
                      after it); its latency is reported apart, its seconds marked in the timeline
Knobs (defaults depend on the scenario):
  ${Object.keys(KNOB_FLAGS).map((k) => `--${k}`).join(' ')}
`;

interface CliArgs {
  scenario: string;
  url?: string;
  spawn: boolean;
  serverPid?: number;
  dialect: Dialect;
  batch: boolean;
  windowBytes: number;
  durationS: number;
  workers: number;
  drainMs: number;
  warmupMs: number;
  out: string;
  allowRemote: boolean;
  knobs: Partial<Knobs>;
  serverFlags: string[];
}

function parse(argv: string[]): CliArgs | 'help' {
  const a: CliArgs = { scenario: '', spawn: false, dialect: 'sluice', batch: false, windowBytes: 0, durationS: 10, workers: 2, drainMs: 3000, warmupMs: 0, out: 'loadtest/results', allowRemote: false, knobs: {}, serverFlags: [] };
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a non-negative number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('--')) {
      if (a.scenario !== '') throw new Error(`unexpected argument ${arg}`);
      a.scenario = arg;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const flagOnly = ['spawn', 'allow-remote', 'batch'].includes(name);
    const value = flagOnly ? undefined : eq > 0 ? arg.slice(eq + 1) : argv[++i];
    switch (name) {
      case 'spawn': a.spawn = true; break;
      case 'allow-remote': a.allowRemote = true; break;
      case 'batch': a.batch = true; break;
      case 'scenario': a.scenario = value ?? ''; break;
      case 'url': a.url = value; break;
      case 'server-pid': a.serverPid = num(name, value); break;
      case 'dialect':
        if (value !== 'sluice' && value !== 'raw' && value !== 'socketio') throw new Error('--dialect must be sluice, raw or socketio');
        a.dialect = value;
        break;
      case 'window-bytes': a.windowBytes = Math.floor(num(name, value)); break;
      case 'duration': a.durationS = Math.min(MAX_DURATION_S, num(name, value)); break;
      case 'workers': a.workers = Math.max(1, Math.min(16, num(name, value))); break;
      case 'drain-ms': a.drainMs = Math.min(60_000, num(name, value)); break;
      case 'warmup-ms': a.warmupMs = Math.min(60_000, num(name, value)); break;
      case 'out': a.out = value ?? a.out; break;
      default:
        if (name in KNOB_FLAGS) a.knobs[KNOB_FLAGS[name]!] = num(name, value);
        else if (value !== undefined) a.serverFlags.push(`--${name}`, value);
        else throw new Error(`--${name} needs a value`);
    }
  }
  if (!(a.scenario in SCENARIOS)) throw new Error(`unknown scenario ${JSON.stringify(a.scenario)}; one of ${Object.keys(SCENARIOS).join(', ')}`);
  if (a.serverFlags.length > 0 && !a.spawn) throw new Error(`unknown options ${a.serverFlags.filter((_, i) => i % 2 === 0).join(' ')} (Sluice config flags need --spawn)`);
  if (!a.spawn && a.url === undefined) throw new Error('give --url ws://127.0.0.1:PORT/ or --spawn');
  return a;
}

/** Loopback targets only, unless the operator says otherwise. */
export function isLoopback(url: URL): boolean {
  const h = url.hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

async function main(): Promise<number> {
  let args: CliArgs | 'help';
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`loadtest: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args === 'help') {
    console.log(USAGE);
    return 0;
  }
  const scenario = SCENARIOS[args.scenario]!;
  const knobs: Knobs = { ...BASE_KNOBS, ...scenario.defaults, ...args.knobs };
  const durationMs = args.durationS * 1000;
  const plan = scenario.build(knobs, durationMs);
  if (plan.clients.length > MAX_CLIENTS) {
    console.error(`loadtest: ${plan.clients.length} clients planned; the limit is ${MAX_CLIENTS}`);
    return 2;
  }
  let server: ServerProcess | undefined;
  let url = args.url;
  if (args.spawn) {
    const flags = ['--host', '127.0.0.1', '--log.level', 'warn', '--log.healthSummaryIntervalMs', '0', ...plan.serverFlags, ...args.serverFlags];
    server = await spawnServer({ script: SLUICE_CLI, args: flags, portFlag: true, onStderr: (l) => console.error(`[sluice] ${l}`) });
    url = server.url;
    console.error(`loadtest: spawned sluice pid ${server.pid} on ${url}`);
  }
  if (!isLoopback(new URL(url!)) && !args.allowRemote) {
    console.error(`loadtest: ${url} is not a loopback address; pass --allow-remote to load a remote server`);
    await server?.stop();
    return 2;
  }
  const tty = process.stderr.isTTY;
  let result: RunResult;
  try {
    result = await runLoad({
      url: url!,
      dialect: args.dialect,
      batch: args.batch,
      windowBytes: args.windowBytes,
      plan,
      durationMs,
      warmupMs: args.warmupMs,
      workers: args.workers,
      serverPid: server?.pid ?? args.serverPid,
      drainMs: args.drainMs,
      progress: (line) => process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`),
    });
    if (tty) process.stderr.write('\n');
  } finally {
    await server?.stop();
  }
  const command = `npm run loadtest -- ${process.argv.slice(2).join(' ')}`;
  const summary = flatSummary(result);
  const width = Math.max(...Object.keys(summary).map((k) => k.length));
  console.log(Object.entries(summary).map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
  for (const c of result.checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  mkdirSync(args.out, { recursive: true });
  const stem = join(args.out, `${result.scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  writeFileSync(`${stem}.json`, JSON.stringify({ command, knobs, ...result }, null, 2));
  writeFileSync(`${stem}.html`, htmlReport(result, command));
  console.log(`reports: ${stem}.json ${stem}.html`);
  return result.checks.every((c) => c.ok) ? 0 : 1;
}

// The adversary suite, the keyed market, hooks and presence benchmarks have runners of their own (adversary/, market/, hooks/main.ts, presence/main.ts).
if (process.argv[2] === 'adversary') await import('./adversary/main.js');
else if (process.argv[2] === 'market') await import('./market/main.js');
else if (process.argv[2] === 'hooks') await import('./hooks/main.js');
else if (process.argv[2] === 'presence') await import('./presence/main.js');
else
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`loadtest: ${(err as Error).stack ?? String(err)}`);
      process.exit(1);
    },
  );
