import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machine } from '../../experiments/transport-probe.js';
import { bigChannel, type BigChannelResult } from './big-channel.js';
import { runChurn, DEFAULT_INTERVAL_MS, type Broker, type ChurnRow, type Mode } from './churn-run.js';

/**
 * `npm run loadtest -- presence [--short] …`: the cost of presence, side by side in one bounded run.
 *
 * 1. Churn: `members` member connections join and leave one channel over `seconds` while
 *    `watchers` connections watch it, real WebSocket connections on loopback, with presence off
 *    (the same churn, plain subscriptions), on at the default interval, and at interval 0 (a frame
 *    per change), on the memory broker (one gateway) and on Redis (two gateways, members and
 *    watchers split between them). Per configuration: presence frames and bytes per second the
 *    watchers received, the most event and occupancy frames one watcher received per interval,
 *    the gateways' CPU, Redis commands per second and Redis CPU. Fresh processes per configuration.
 * 2. A channel of `big-members` members on one gateway (members put in its table in process; the
 *    figures say so), a bystander pinging beside paged `presence` and `occupancy` requests: its pong
 *    p99 against the quiet phase, and CPU per request against a channel of 1,000 members.
 *
 * Loopback only; every phase is bounded in count and time. The load average is printed before and
 * after: the machine may be shared. `--out DIR` also writes the figures as JSON.
 */
const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'presence'),
  options: {
    short: { type: 'boolean', default: false },
    members: { type: 'string' },
    watchers: { type: 'string' },
    seconds: { type: 'string' },
    'hold-ms': { type: 'string' },
    brokers: { type: 'string', default: 'memory,redis' },
    modes: { type: 'string', default: 'off,batched,interval0' },
    transport: { type: 'string', default: 'ws' },
    'watcher-threads': { type: 'string', default: '1' },
    'cpu-prof': { type: 'string' },
    'big-members': { type: 'string' },
    'phase-ms': { type: 'string' },
    pagers: { type: 'string', default: '8' },
    'skip-churn': { type: 'boolean', default: false },
    'skip-big': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

const USAGE = `npm run loadtest -- presence [options]
  --members 10000 --watchers 1000 --seconds 60 --hold-ms 10000   the churn (--short: 200, 50, 6 s, 2000 ms)
  --brokers memory,redis --modes off,batched,interval0 --transport ws|uws --watcher-threads 1
  --big-members 100000 --phase-ms 5000 --pagers 8                 the large channel (--short: 10000, 1000 ms)
  --skip-churn --skip-big --cpu-prof DIR (a V8 profile per gateway) --out DIR (JSON)`;

function num(name: keyof typeof args, full: number, short: number): number {
  const given = args[name];
  const n = typeof given === 'string' ? Number(given) : args.short ? short : full;
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a non-negative number`);
  return n;
}

function list<T extends string>(name: 'brokers' | 'modes', allowed: readonly T[]): T[] {
  const items = String(args[name]).split(',').filter((x) => x !== '');
  for (const x of items) if (!allowed.includes(x as T)) throw new Error(`--${name}: ${x} is not one of ${allowed.join(', ')}`);
  return items as T[];
}

function load(): string {
  return execFileSync('uptime', { encoding: 'utf8' }).trim();
}

const f0 = (v: number | undefined): string => (v === undefined ? '–' : Math.round(v).toLocaleString('en-US'));
const f2 = (v: number | undefined): string => (v === undefined ? '–' : v.toFixed(2));
const tally = (r: Record<string, number>): string => Object.entries(r).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';

function churnTable(rows: ChurnRow[]): string {
  const lines = [
    '| broker | presence | members joined / left | frames/s to watchers | bytes/s | frames per join or leave | event frames / watcher / interval (max) | occupancy frames / watcher / interval (max) | gateway CPU % | vs off | gateway CPU µs per join or leave | Redis cmds/s | Redis cmds per join or leave | Redis CPU % | load generator CPU % | joins seen by one watcher | resyncs | members not connected, errors |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const off = rows.find((o) => o.broker === r.broker && o.mode === 'off');
    const mode = r.mode === 'off' ? 'off' : r.mode === 'batched' ? `on, ${r.intervalMs} ms (default)` : 'on, interval 0';
    const changes = Math.max(1, r.members.joined + r.members.left);
    const frames = r.watched.eventFrames + r.watched.occupancyFrames + r.watched.resyncs;
    const problems = { ...prefixed('not connected: ', r.members.connectFailures), ...r.members.errors, ...prefixed('closed ', r.members.unexpectedCloses) };
    lines.push(
      `| ${r.broker}${r.nodes > 1 ? ` (${r.nodes} nodes)` : ''} | ${mode} | ${r.members.joined} / ${r.members.left} | ${f0(r.framesPerS)} | ${f0(r.bytesPerS)} | ${f2(frames / changes)} | ${f2(r.eventFramesPerWatcherPerInterval)} | ${f2(r.occupancyFramesPerWatcherPerInterval)} | ${f0(r.serverCpuPct)} | ${off ? f2(r.serverCpuPct / off.serverCpuPct) : '–'} | ${f0((r.serverCpuPct * r.windowS * 1e4) / changes)} | ${f0(r.redis?.commandsPerS)} | ${r.redis ? f2((r.redis.commandsPerS * r.windowS) / changes) : '–'} | ${f0(r.redis?.cpuPct)} | ${f0(r.loadGeneratorCpuPct)} | ${f0(r.watched.sampledJoins)} | ${f0(r.watched.resyncs)} | ${tally(problems)} |`,
    );
  }
  return lines.join('\n');
}

const prefixed = (p: string, r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).map(([k, n]) => [p + k, n]));

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

function churnChecks(rows: ChurnRow[], members: number): Check[] {
  const checks: Check[] = [];
  for (const r of rows) {
    const label = `${r.broker}, ${r.mode}`;
    // Interval 0 is the comparison point, not a target: a gateway busy writing a frame per change to every watcher may not take the churn.
    if (r.mode !== 'interval0') checks.push({ name: `${label}: every member joined and left`, ok: r.members.joined === members && r.members.left === members, detail: `${r.members.joined} joined, ${r.members.left} left of ${members}` });
    if (r.mode !== 'batched') continue;
    // One frame of each kind per flush; the window holds windowS / interval flushes, plus one at its edge.
    const most = Math.max(r.eventFramesPerWatcherPerInterval ?? 0, r.occupancyFramesPerWatcherPerInterval ?? 0);
    const edge = (DEFAULT_INTERVAL_MS / 1000) / r.windowS;
    checks.push({ name: `${label}: at most one presence frame of each kind per interval per watcher`, ok: most <= 1 + edge, detail: `busiest watcher: ${f2(r.eventFramesPerWatcherPerInterval)} event, ${f2(r.occupancyFramesPerWatcherPerInterval)} occupancy frames per interval` });
    const off = rows.find((o) => o.broker === r.broker && o.mode === 'off');
    if (off) checks.push({ name: `${label}: gateway CPU within 1.5x of presence off`, ok: r.serverCpuPct <= 1.5 * off.serverCpuPct, detail: `${f0(r.serverCpuPct)}% vs ${f0(off.serverCpuPct)}% (${f2(r.serverCpuPct / off.serverCpuPct)}x)` });
  }
  return checks;
}

async function main(): Promise<number> {
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const members = num('members', 10_000, 200);
  const watchers = num('watchers', 1000, 50);
  const seconds = num('seconds', 60, 6);
  const holdMs = num('hold-ms', 10_000, 2000);
  const brokers = list<Broker>('brokers', ['memory', 'redis']);
  const modes = list<Mode>('modes', ['off', 'batched', 'interval0']);
  const transport = args.transport === 'uws' ? 'uws' : 'ws';
  const command = `npm run loadtest -- presence ${process.argv.slice(3).join(' ')}`.trim();
  console.log(`# Presence benchmark\n\ncommand: ${command}\nmachine: ${machine()}\nbefore: ${load()}\n`);
  const rows: ChurnRow[] = [];
  const checks: Check[] = [];
  if (!args['skip-churn']) {
    console.log(`## 1. Churn: ${members.toLocaleString('en-US')} members join and leave one channel over ${seconds} s (each stays ${holdMs / 2000}–${(1.5 * holdMs) / 1000} s) while ${watchers.toLocaleString('en-US')} watchers watch it; ${transport}; real WebSocket connections on loopback; fresh processes per row\n`);
    for (const broker of brokers) {
      for (const mode of modes) {
        console.error(`presence: churn, ${broker}, ${mode}…`);
        const row = await runChurn({ broker, mode, members, watchers, spanMs: seconds * 1000, holdMs, transport, watcherThreads: Math.max(1, Number(args['watcher-threads'])), cpuProfDir: args['cpu-prof'] });
        rows.push(row);
        console.error(`presence: ${f0(row.framesPerS)} frames/s to watchers, gateway CPU ${f0(row.serverCpuPct)}%, Redis ${f0(row.redis?.commandsPerS)} cmds/s (${load()})`);
      }
    }
    console.log(churnTable(rows));
    console.log(
      [
        '',
        `Window: first join to ${2 * DEFAULT_INTERVAL_MS + 500} ms after the last leave. frames/s, bytes/s: presence frames (events, occupancy, resync notices) all watchers received, on the wire. "per join or leave": divided by the members' joins + leaves, so a run whose gateway could not take the whole churn still compares.`,
        'gateway CPU: all gateway processes, % of one core, from /proc. Redis: INFO commandstats (commands run by scripts counted too) and used_cpu deltas over the window.',
        '"joins seen by one watcher": join entries in one watcher\'s event frames (fewer than the members when a join and its leave fell in one interval, or when frames were shed: then resyncs > 0).',
        'A member "not connected" timed out in the WebSocket handshake (30 s) or was refused: the gateway did not accept it in time.',
      ].join('\n'),
    );
    for (const r of rows) if (r.redis) console.log(`Redis commands/s, ${r.mode}: ${tally(r.redis.top)}`);
    checks.push(...churnChecks(rows, members));
  }
  let big: BigChannelResult | undefined;
  if (!args['skip-big']) {
    const bigMembers = num('big-members', 100_000, 10_000);
    const phaseMs = num('phase-ms', 5000, 1000);
    console.error('presence: large channel…');
    big = await bigChannel({ members: bigMembers, phaseMs, pagers: Math.max(1, num('pagers', 8, 8)), transport });
    console.log(`\n${big.report}`);
    checks.push(...big.checks);
  }
  console.log(`\nafter: ${load()}`);
  for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  if (args.out !== undefined) {
    mkdirSync(args.out, { recursive: true });
    const file = join(args.out, `presence-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ command, machine: machine(), churn: rows, big: big?.figures, checks }, null, 2));
    console.log(`figures: ${file}`);
  }
  return checks.every((c) => c.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`presence: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
