import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mustReadProc, selfCpuSeconds } from '../../../devkit/proc.js';
import { ONE_ADDRESS, spawnServer, SLUICE_CLI, type ServerProcess } from '../../../devkit/process.js';
import { startRedis, type TestRedis } from '../../../devkit/redis.js';
import { until } from '../../../devkit/until.js';
import { churn, type MemberTally } from './churn.js';
import { Thread } from './thread.js';
import type { WatcherCommand, WatcherMessage, WatcherTally } from './watchers.js';

export type Broker = 'memory' | 'redis';
/** off: the same churn on a channel without presence; batched: the default interval; interval0: a frame per change. */
export type Mode = 'off' | 'batched' | 'interval0';

export interface ChurnSetup {
  readonly broker: Broker;
  readonly mode: Mode;
  readonly members: number;
  readonly watchers: number;
  readonly spanMs: number;
  readonly holdMs: number;
  readonly transport: 'ws' | 'uws';
  readonly watcherThreads: number;
  /** Write a V8 CPU profile of every gateway here (one folder per run). */
  readonly cpuProfDir: string | undefined;
}

/** One configuration's figures over its measured window (first join to the last flush after the last leave). */
export interface ChurnRow {
  readonly broker: Broker;
  readonly mode: Mode;
  readonly nodes: number;
  readonly intervalMs: number | undefined;
  readonly windowS: number;
  readonly members: MemberTally;
  readonly watchersReady: number;
  readonly watched: WatcherTally;
  readonly framesPerS: number;
  readonly bytesPerS: number;
  /** Event (join/leave) frames the busiest watcher received per interval of the window: at most 1 is the target. */
  readonly eventFramesPerWatcherPerInterval: number | undefined;
  readonly occupancyFramesPerWatcherPerInterval: number | undefined;
  /** Sum over the gateway processes, in % of one core. */
  readonly serverCpuPct: number;
  readonly loadGeneratorCpuPct: number;
  readonly redis: { commandsPerS: number; cpuPct: number; top: Record<string, number> } | undefined;
}

/** The gateways' default interval (config `channelDefaults.presenceIntervalMs`), which `batched` leaves alone. */
export const DEFAULT_INTERVAL_MS = 1000;
const CHANNEL = 'room';
/** After the last leave: two intervals and a margin, so the last flush reaches every watcher. */
const DRAIN_MS = 2 * DEFAULT_INTERVAL_MS + 500;

function channelRule(mode: Mode): string {
  const rule = mode === 'off' ? { pattern: CHANNEL } : mode === 'batched' ? { pattern: CHANNEL, presence: true } : { pattern: CHANNEL, presence: true, presenceIntervalMs: 0 };
  return JSON.stringify([rule]);
}

async function startNodes(s: ChurnSetup, redis: TestRedis | undefined): Promise<ServerProcess[]> {
  const nodes = redis === undefined ? 1 : 2;
  const flags = [
    '--host', '127.0.0.1', '--log.level', 'warn', '--log.healthSummaryIntervalMs', '0', '--transport', s.transport,
    '--limits.maxConnections', '60000', ...ONE_ADDRESS, '--channels', channelRule(s.mode),
    ...(redis === undefined ? [] : ['--broker.type', 'redis', '--broker.redis.url', redis.url, '--broker.redis.commandTimeoutMs', '10000']),
  ];
  return Promise.all(
    Array.from({ length: nodes }, async (_, i) => {
      let nodeArgs: string[] = [];
      if (s.cpuProfDir !== undefined) {
        const dir = join(s.cpuProfDir, `${s.broker}-${s.mode}-node${i}`);
        mkdirSync(dir, { recursive: true });
        nodeArgs = ['--cpu-prof', '--cpu-prof-dir', dir];
      }
      const server = await spawnServer({ script: SLUICE_CLI, args: flags, portFlag: true, nodeArgs, onStderr: (l) => console.error(`[node${i}] ${l}`) }, 120_000);
      await until(async () => (await fetch(`${server.httpUrl}/readyz`).catch(() => undefined))?.ok === true, `node ${i} ready`, 60_000, 100);
      return server;
    }),
  );
}

interface RedisReading {
  calls: Map<string, number>;
  cpuSeconds: number;
}

async function readRedis(redis: TestRedis): Promise<RedisReading> {
  const c = redis.client();
  try {
    const stats = (await c.info('commandstats')) + (await c.info('cpu'));
    const calls = new Map<string, number>();
    for (const m of stats.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]));
    const cpu = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(stats)?.[1] ?? 0);
    return { calls, cpuSeconds: cpu('used_cpu_user') + cpu('used_cpu_sys') };
  } finally {
    c.disconnect();
  }
}

function redisFigures(before: RedisReading, after: RedisReading, seconds: number): NonNullable<ChurnRow['redis']> {
  const deltas = [...after.calls].map(([cmd, n]) => [cmd, n - (before.calls.get(cmd) ?? 0)] as const).filter(([cmd, n]) => n > 0 && cmd !== 'info');
  deltas.sort((a, b) => b[1] - a[1]);
  const total = deltas.reduce((sum, [, n]) => sum + n, 0);
  return {
    commandsPerS: total / seconds,
    cpuPct: ((after.cpuSeconds - before.cpuSeconds) * 100) / seconds,
    top: Object.fromEntries(deltas.slice(0, 5).map(([cmd, n]) => [cmd, Math.round(n / seconds)])),
  };
}

function sumTallies(tallies: WatcherTally[]): WatcherTally {
  const sum: WatcherTally = { eventFrames: 0, occupancyFrames: 0, resyncs: 0, bytes: 0, maxEventFramesOneWatcher: 0, maxOccupancyFramesOneWatcher: 0, sampledJoins: 0, sampledLeaves: 0, closes: {} };
  for (const t of tallies) {
    sum.eventFrames += t.eventFrames;
    sum.occupancyFrames += t.occupancyFrames;
    sum.resyncs += t.resyncs;
    sum.bytes += t.bytes;
    sum.maxEventFramesOneWatcher = Math.max(sum.maxEventFramesOneWatcher, t.maxEventFramesOneWatcher);
    sum.maxOccupancyFramesOneWatcher = Math.max(sum.maxOccupancyFramesOneWatcher, t.maxOccupancyFramesOneWatcher);
    // The first thread's first watcher is the sampled one.
    if (sum.sampledJoins + sum.sampledLeaves === 0) {
      sum.sampledJoins = t.sampledJoins;
      sum.sampledLeaves = t.sampledLeaves;
    }
    for (const [code, n] of Object.entries(t.closes)) sum.closes[code] = (sum.closes[code] ?? 0) + n;
  }
  return sum;
}

/** Runs one configuration from fresh processes (Redis and gateways) and measures it. */
export async function runChurn(s: ChurnSetup): Promise<ChurnRow> {
  const redis = s.broker === 'redis' ? await startRedis() : undefined;
  const servers: ServerProcess[] = [];
  const threads: Array<Thread<WatcherCommand, WatcherMessage>> = [];
  try {
    servers.push(...(await startNodes(s, redis)));
    const urls = servers.map((n) => n.url);
    console.error(`presence: gateways ${servers.map((n) => `pid ${n.pid} at ${n.httpUrl}`).join(', ')}`);
    const perThread = Math.ceil(s.watchers / s.watcherThreads);
    for (let t = 0; t < s.watcherThreads; t++) {
      const count = Math.min(perThread, s.watchers - t * perThread);
      if (count > 0) threads.push(new Thread('./watchers.ts', { urls, count, channel: CHANNEL, presence: s.mode !== 'off' }));
    }
    const ready = await Promise.all(threads.map((t) => t.next('ready', 300_000)));
    const watchersReady = s.watchers - ready.reduce((n, r) => n + r.failed, 0);
    // The watchers' own joins are flushed before the window opens.
    await new Promise((r) => setTimeout(r, DRAIN_MS));
    for (const t of threads) t.send('mark');
    const cpu0 = servers.map((n) => mustReadProc(n.pid).cpuSeconds);
    const self0 = selfCpuSeconds();
    const redis0 = redis === undefined ? undefined : await readRedis(redis);
    const t0 = performance.now();
    const members: MemberTally = { joined: 0, left: 0, errors: {}, connectFailures: {}, unexpectedCloses: {} };
    await churn({ urls, channel: CHANNEL, members: s.members, spanMs: s.spanMs, holdMs: s.holdMs }, members, 60_000);
    await new Promise((r) => setTimeout(r, DRAIN_MS));
    const seconds = (performance.now() - t0) / 1000;
    const serverCpu = servers.reduce((sum, n, i) => sum + mustReadProc(n.pid).cpuSeconds - cpu0[i]!, 0);
    const selfCpu = selfCpuSeconds() - self0;
    const redisRow = redis === undefined ? undefined : redisFigures(redis0!, await readRedis(redis), seconds);
    for (const t of threads) t.send('report');
    const watched = sumTallies((await Promise.all(threads.map((t) => t.next('report')))).map((m) => m.tally));
    const intervalMs = s.mode === 'off' ? undefined : s.mode === 'batched' ? DEFAULT_INTERVAL_MS : 0;
    const intervals = intervalMs ? (seconds * 1000) / intervalMs : undefined;
    return {
      broker: s.broker,
      mode: s.mode,
      nodes: servers.length,
      intervalMs,
      windowS: seconds,
      members,
      watchersReady,
      watched,
      framesPerS: (watched.eventFrames + watched.occupancyFrames + watched.resyncs) / seconds,
      bytesPerS: watched.bytes / seconds,
      eventFramesPerWatcherPerInterval: intervals === undefined ? undefined : watched.maxEventFramesOneWatcher / intervals,
      occupancyFramesPerWatcherPerInterval: intervals === undefined ? undefined : watched.maxOccupancyFramesOneWatcher / intervals,
      serverCpuPct: (serverCpu * 100) / seconds,
      loadGeneratorCpuPct: (selfCpu * 100) / seconds,
      redis: redisRow,
    };
  } finally {
    for (const t of threads) t.send('stop');
    await Promise.allSettled(threads.map((t) => t.next('stopped', 10_000)));
    await Promise.allSettled(threads.map((t) => t.terminate()));
    await Promise.allSettled(servers.map((n) => n.stop(10_000)));
    await redis?.stop();
  }
}
