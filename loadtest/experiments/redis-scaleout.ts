/**
 * Scaling out on Redis, side by side in one run: deliveries per second for 1 publisher → 3,000
 * subscribers on one node (memory broker, the baseline), on one node with the Redis broker, and
 * on three nodes with the Redis broker (1,000 subscribers each), plus Redis commands per
 * publication (INFO commandstats before and after).
 *
 *   npx tsx loadtest/experiments/redis-scaleout.ts [messages=1000] [rounds=1]
 *
 * The clock starts when the first message is sent and stops when every subscriber has received
 * every message. The publisher sends windows of 50 (below limits.maxPendingPublishes) and waits for
 * each window's last ack. Subscribers are raw clients in this process, so everything shares the
 * machine's cores: compare ratios, not absolute figures. Bounded: at most 10,000 messages and 3
 * rounds; every wait has a deadline; redis-server and the nodes are killed by PID at the end.
 */
import { Redis } from 'ioredis';
import { startRedis } from '../../devkit/redis.js';
import { readyStatus, until } from '../../devkit/until.js';
import { clientFrame } from '../../devkit/wire-client.js';
import { allReach, machine, openClients, publishInWindows, startSluice, type SluiceProcess } from './transport-probe.js';

const MESSAGES = Math.min(Number(process.argv[2] ?? 1_000), 10_000);
const ROUNDS = Math.min(Number(process.argv[3] ?? 1), 3);
const SUBSCRIBERS = 3_000;
const WINDOW = 50;
const DATA = JSON.stringify('x'.repeat(98));

const pubFrame = (id?: number): Buffer => clientFrame(`{"op":"pub","ch":"bench"${id === undefined ? '' : `,"id":${id}`},"data":${DATA}}`);

interface Setup {
  readonly name: string;
  readonly nodes: number;
  readonly redis: boolean;
}

const SETUPS: Setup[] = [
  { name: '1 node, memory broker', nodes: 1, redis: false },
  { name: '1 node, redis broker ', nodes: 1, redis: true },
  { name: '3 nodes, redis broker', nodes: 3, redis: true },
];

interface Result {
  readonly rate: number;
  readonly serverCpu: number;
  readonly commandsPerPublication?: number;
  readonly scriptCallsPerPublication?: number;
}

async function commandCalls(admin: Redis): Promise<Map<string, number>> {
  const info = (await admin.info('commandstats')) as string;
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) calls.set(m[1]!, Number(m[2]));
  return calls;
}

async function run(setup: Setup, redisUrl: string, admin: Redis): Promise<Result> {
  const flags = ['--inbound.messagesPerSecond', '0', '--inbound.bytesPerSecond', '0', '--log.healthSummaryIntervalMs', '0', '--heartbeat.intervalMs', '600000', '--heartbeat.idleTimeoutMs', '1200000'];
  if (setup.redis) flags.push('--broker.type', 'redis', '--broker.redis.url', redisUrl, '--broker.redis.keyPrefix', `bench${Date.now()}:`);
  const servers: SluiceProcess[] = [];
  const guard = setTimeout(() => {
    console.error(`${setup.name}: timed out`);
    process.exit(1);
  }, 180_000);
  try {
    for (let i = 0; i < setup.nodes; i++) servers.push(await startSluice(flags));
    for (const s of servers) await until(async () => (await readyStatus(s.httpUrl)) === 200, `node ${s.port} ready`, 10_000, 50);
    const per = SUBSCRIBERS / setup.nodes;
    const subs = (await Promise.all(servers.map((s) => openClients(s.port, per, 250)))).flat();
    const subscribed = allReach(subs, 2);
    for (const s of subs) s.send(clientFrame('{"op":"sub","ch":"bench","id":1}'));
    await subscribed;
    const allDone = allReach(subs, 2 + MESSAGES);
    const [publisher] = await openClients(servers[0]!.port, 1, 1);
    const before = await commandCalls(admin);
    const cpuStart = servers.reduce((t, s) => t + s.cpuSeconds(), 0);
    const start = process.hrtime.bigint();
    await publishInWindows(publisher!, MESSAGES, WINDOW, pubFrame);
    await allDone;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const cpu = servers.reduce((t, s) => t + s.cpuSeconds(), 0) - cpuStart;
    const after = await commandCalls(admin);
    for (const c of [...subs, publisher!]) c.destroy();
    let total = 0;
    for (const [cmd, calls] of after) if (cmd !== 'info') total += calls - (before.get(cmd) ?? 0);
    const scripts = (after.get('evalsha') ?? 0) - (before.get('evalsha') ?? 0) + (after.get('eval') ?? 0) - (before.get('eval') ?? 0);
    return {
      rate: (MESSAGES * SUBSCRIBERS) / seconds,
      serverCpu: cpu,
      ...(setup.redis ? { commandsPerPublication: total / MESSAGES, scriptCallsPerPublication: scripts / MESSAGES } : {}),
    };
  } finally {
    clearTimeout(guard);
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function main(): Promise<void> {
  console.log(`scale-out: 1 publisher -> ${SUBSCRIBERS} subscribers, ${MESSAGES} messages of 100 data bytes, ${ROUNDS} round(s); ${machine()}`);
  const redis = await startRedis();
  const admin = redis.client();
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const best = new Map<string, Result>();
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const setup of SETUPS) {
        const r = await run(setup, redis.url, admin);
        if ((best.get(setup.name)?.rate ?? 0) < r.rate) best.set(setup.name, r);
        const redisPart = r.commandsPerPublication === undefined ? '' : `, Redis: ${r.scriptCallsPerPublication!.toFixed(2)} script calls and ${r.commandsPerPublication.toFixed(2)} commands (incl. inside the script) per publication`;
        console.log(`round ${round} ${setup.name}: ${fmt(r.rate)} deliveries/s, server CPU ${r.serverCpu.toFixed(2)} s${redisPart}`);
      }
    }
  } finally {
    await redis.stop();
  }
  const base = best.get(SETUPS[0]!.name)!.rate;
  for (const s of SETUPS) console.log(`best ${s.name}: ${fmt(best.get(s.name)!.rate)} deliveries/s, ${(best.get(s.name)!.rate / base).toFixed(2)}x the memory baseline`);
}

await main();
process.exit(0);
