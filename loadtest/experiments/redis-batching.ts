/**
 * Redis round trips per publication, before and after batching, side by side in one run: one node
 * on the Redis broker, 1 publisher → 1,000 subscribers, the publisher at full rate (200
 * publications in flight, the next sent as each ack arrives). "Before" runs the node with
 * `broker.redis.maxPublishBatch 1` (one script call and one round trip per publication, the
 * behaviour before batching); "after" with the default.
 *
 *   npx tsx loadtest/experiments/redis-batching.ts [messages=5000] [rounds=1]
 *
 * Counted over the measured publications only, from Redis' own counters: read events it processed
 * (`INFO stats` total_reads_processed: one per arrival of requests on a socket, i.e. per round
 * trip), script calls (`INFO commandstats`, eval + evalsha) and commands run (the calls and the
 * commands inside them). The node's health PING (one per commandTimeoutMs) and the two INFO calls
 * are left out. Bounded: at most 20,000 messages and 3 rounds; every wait has a deadline;
 * processes are killed by PID at the end.
 */
import { Redis } from 'ioredis';
import { startRedis } from '../../devkit/redis.js';
import { readyStatus, until } from '../../devkit/until.js';
import { clientFrame } from '../../devkit/wire-client.js';
import { allReach, machine, openClients, startSluice, type CountingClient, type SluiceProcess } from './transport-probe.js';

const MESSAGES = Math.min(Number(process.argv[2] ?? 5_000), 20_000);
const ROUNDS = Math.min(Number(process.argv[3] ?? 1), 3);
const SUBSCRIBERS = 1_000;
const IN_FLIGHT = 200;
const DATA = JSON.stringify('x'.repeat(98));

interface Setup {
  readonly name: string;
  readonly flags: string[];
}

const SETUPS: Setup[] = [
  { name: 'before (maxPublishBatch 1)', flags: ['--broker.redis.maxPublishBatch', '1'] },
  { name: 'after  (batched)          ', flags: [] },
];

interface Counts {
  readonly scripts: number;
  readonly commands: number;
  readonly reads: number;
  readonly pings: number;
}

interface Result extends Counts {
  readonly rate: number;
  readonly serverCpu: number;
}

async function redisCounts(admin: Redis): Promise<Counts> {
  const commandstats = (await admin.info('commandstats')) as string;
  let scripts = 0;
  let commands = 0;
  let pings = 0;
  for (const m of commandstats.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) {
    if (m[1] === 'info') continue;
    if (m[1] === 'ping') pings = Number(m[2]);
    else commands += Number(m[2]);
    if (m[1] === 'eval' || m[1] === 'evalsha') scripts += Number(m[2]);
  }
  const stats = (await admin.info('stats')) as string;
  const reads = Number(/total_reads_processed:(\d+)/.exec(stats)?.[1] ?? NaN);
  return { scripts, commands, reads, pings };
}

/** Sends `messages` publications keeping `inFlight` unanswered, the next as each ack arrives. */
function publishAtFullRate(publisher: CountingClient, messages: number, inFlight: number): Promise<void> {
  let sent = 0;
  let answered = 0;
  const frame = clientFrame(`{"op":"pub","ch":"bench","id":1,"data":${DATA}}`);
  return new Promise((resolve) => {
    publisher.onFrame = () => {
      answered++;
      if (answered === messages) resolve();
      else if (sent < messages) {
        sent++;
        publisher.send(frame);
      }
    };
    const first = Math.min(inFlight, messages);
    sent = first;
    publisher.send(Buffer.concat(Array.from({ length: first }, () => frame)));
  });
}

async function run(setup: Setup, redisUrl: string, admin: Redis): Promise<Result> {
  const flags = [
    '--inbound.messagesPerSecond', '0', '--inbound.bytesPerSecond', '0', '--log.healthSummaryIntervalMs', '0', '--heartbeat.intervalMs', '600000', '--heartbeat.idleTimeoutMs', '1200000',
    '--broker.type', 'redis', '--broker.redis.url', redisUrl, '--broker.redis.keyPrefix', `batch${Date.now()}:`, ...setup.flags,
  ];
  let node: SluiceProcess | undefined;
  const guard = setTimeout(() => {
    console.error(`${setup.name}: timed out`);
    process.exit(1);
  }, 180_000);
  try {
    node = await startSluice(flags);
    const started = node;
    await until(async () => (await readyStatus(started.httpUrl)) === 200, 'node ready', 10_000, 50);
    // The channel's stream exists before anyone subscribes: subscribers start on its real epoch.
    const [publisher] = await openClients(node.port, 1, 1);
    await publishAtFullRate(publisher!, 1, 1);
    const subs = await openClients(node.port, SUBSCRIBERS, 250);
    const subscribed = allReach(subs, 2);
    for (const s of subs) s.send(clientFrame('{"op":"sub","ch":"bench","id":1}'));
    await subscribed;
    const allDone = allReach(subs, 2 + MESSAGES);
    const before = await redisCounts(admin);
    const cpuStart = node.cpuSeconds();
    const start = process.hrtime.bigint();
    await publishAtFullRate(publisher!, MESSAGES, IN_FLIGHT);
    await allDone;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const serverCpu = node.cpuSeconds() - cpuStart;
    const after = await redisCounts(admin);
    for (const c of [...subs, publisher!]) c.destroy();
    // Left out of the reads: the second snapshot's two INFO calls, one read each, and the PINGs.
    return {
      rate: (MESSAGES * SUBSCRIBERS) / seconds,
      serverCpu,
      scripts: after.scripts - before.scripts,
      commands: after.commands - before.commands,
      reads: after.reads - before.reads - 2 - (after.pings - before.pings),
      pings: after.pings - before.pings,
    };
  } finally {
    clearTimeout(guard);
    await node?.stop();
  }
}

async function main(): Promise<void> {
  console.log(`redis batching: 1 publisher (${IN_FLIGHT} in flight) -> ${SUBSCRIBERS} subscribers on one node, ${MESSAGES} messages of 100 data bytes, ${ROUNDS} round(s); ${machine()}`);
  const redis = await startRedis();
  const admin = redis.client();
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const per = (n: number) => (n / MESSAGES).toFixed(3);
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const setup of SETUPS) {
        const r = await run(setup, redis.url, admin);
        console.log(
          `round ${round} ${setup.name}: per publication ${per(r.reads)} round trips (Redis reads), ${per(r.scripts)} script calls, ${per(r.commands)} commands; ${fmt(r.rate)} deliveries/s, server CPU ${r.serverCpu.toFixed(2)} s`,
        );
      }
    }
  } finally {
    await redis.stop();
  }
}

await main();
process.exit(0);
