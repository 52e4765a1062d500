/**
 * The Redis broker on a Redis Cluster of 1, 3 and 6 shards (masters, no replicas), one run:
 * publications/s through the broker from 3 gateway nodes, and Redis' cost per publication, with
 * the publish path before slot grouping (`broker.redis.maxPublishBatch 1`: one script call and one
 * round trip per publication, sent at once) and after (a loop turn's publications in one pipeline
 * per shard, one script call per channel), side by side on the same cluster.
 *
 *   npx tsx loadtest/experiments/redis-cluster.ts [publications=23040]
 *
 * 3 gateway processes; on each, 2 publishers keep up to 64 publications in flight (the next sent as
 * each ack arrives) round robin over 96 channels spread over the slots, and 1 subscriber watches
 * its third of the channels (interest-based sharded pub/sub: each publication goes to one node).
 * A run ends when every publication is acked and delivered. Per publication, from every master's
 * own counters: round trips (`INFO stats` total_reads_processed: one per arrival of requests on a
 * socket), script calls and commands (`INFO commandstats`), and Redis CPU (`INFO cpu`, user + sys),
 * summed over the masters, less what they burn idle (measured for 2 s before the runs). Bounded: at most 60,000 publications per run, every wait has a deadline,
 * every process is killed by PID at the end.
 */
import type { Redis } from 'ioredis';
import { startRedisCluster, type TestRedisCluster } from '../../devkit/redis-cluster.js';
import { readyStatus, until } from '../../devkit/until.js';
import { clientFrame } from '../../devkit/wire-client.js';
import { allReach, machine, openClients, startSluice, type CountingClient, type SluiceProcess } from './transport-probe.js';

const NODES = 3;
const PUBLISHERS_PER_NODE = 2;
const CHANNELS = 96;
const IN_FLIGHT = 64;
const SHARDS = [1, 3, 6];
const PER_PUBLISHER = Math.ceil(Math.min(Number(process.argv[2] ?? 23_040), 60_000) / (NODES * PUBLISHERS_PER_NODE) / CHANNELS) * CHANNELS;
const PUBLICATIONS = PER_PUBLISHER * NODES * PUBLISHERS_PER_NODE;
const DATA = JSON.stringify('x'.repeat(98));

interface Setup {
  readonly name: string;
  readonly flags: string[];
}

const SETUPS: Setup[] = [
  { name: 'before (one call per publication)', flags: ['--broker.redis.maxPublishBatch', '1'] },
  { name: 'after  (one pipeline per shard)  ', flags: [] },
];

interface Counts {
  readonly reads: number;
  readonly scripts: number;
  readonly commands: number;
  readonly cpu: number;
  /** INFO and PING calls (the snapshots' own, the nodes' health PINGs): left out of the figures. */
  readonly overhead: number;
}

async function masterCounts(admin: Redis): Promise<Counts> {
  const [commandstats, stats, cpu] = await Promise.all([admin.info('commandstats'), admin.info('stats'), admin.info('cpu')]);
  let scripts = 0;
  let commands = 0;
  let overhead = 0;
  for (const m of commandstats.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) {
    if (m[1] === 'info' || m[1] === 'ping' || m[1]!.startsWith('cluster')) overhead += Number(m[2]);
    else commands += Number(m[2]);
    if (m[1] === 'eval' || m[1] === 'evalsha') scripts += Number(m[2]);
  }
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? NaN);
  return {
    reads: Number(/total_reads_processed:(\d+)/.exec(stats)?.[1] ?? NaN),
    scripts,
    commands,
    cpu: field('used_cpu_user') + field('used_cpu_sys'),
    overhead,
  };
}

/** The masters' CPU per second with no traffic (cron, cluster bus), left out of the runs' figures. */
async function idleCpuRate(admins: Redis[]): Promise<number> {
  const before = await clusterCounts(admins);
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, 2_000));
  const after = await clusterCounts(admins);
  return (after.cpu - before.cpu) / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function clusterCounts(admins: Redis[]): Promise<Counts> {
  const all = await Promise.all(admins.map(masterCounts));
  const sum = (k: keyof Counts): number => all.reduce((s, c) => s + c[k], 0);
  return { reads: sum('reads'), scripts: sum('scripts'), commands: sum('commands'), cpu: sum('cpu'), overhead: sum('overhead') };
}

/** Sends `count` publications round robin over the channels, `IN_FLIGHT` unanswered at most. */
function publish(publisher: CountingClient, count: number, prefix: string): Promise<void> {
  const frames = Array.from({ length: CHANNELS }, (_, i) => clientFrame(`{"op":"pub","ch":"${prefix}.${i}","id":1,"data":${DATA}}`));
  let sent = 0;
  let answered = 0;
  return new Promise((resolve) => {
    publisher.onFrame = () => {
      if (++answered === count) resolve();
      else if (sent < count) publisher.send(frames[sent++ % CHANNELS]!);
    };
    const first = Math.min(IN_FLIGHT, count);
    publisher.send(Buffer.concat(Array.from({ length: first }, (_, k) => frames[k % CHANNELS]!)));
    sent = first;
  });
}

interface Result extends Counts {
  readonly rate: number;
  readonly gatewayCpu: number;
}

async function run(cluster: TestRedisCluster, admins: Redis[], setup: Setup, prefix: string): Promise<Result> {
  const flags = [
    '--inbound.messagesPerSecond', '0', '--inbound.bytesPerSecond', '0', '--log.healthSummaryIntervalMs', '0', '--heartbeat.intervalMs', '600000', '--heartbeat.idleTimeoutMs', '1200000',
    // A loaded machine can leave a command unanswered past the default 1 s: the node would count
    // Redis as hung, refuse publishes meanwhile (answered, so uncounted here) and the run would
    // wait for deliveries that were never published.
    '--broker.redis.commandTimeoutMs', '10000',
    '--broker.type', 'redis', '--broker.redis.cluster', JSON.stringify(cluster.seeds), '--broker.redis.keyPrefix', `${prefix}:`, ...setup.flags,
  ];
  const nodes: SluiceProcess[] = [];
  let clients: CountingClient[] = [];
  const guard = setTimeout(() => {
    console.error(`${setup.name}: timed out; frames per client (subscribers, then publishers): ${clients.map((c) => c.frames).join(' ')}`);
    void Promise.all(nodes.map((n) => fetch(`${n.httpUrl}/metrics`).then((r) => r.text(), () => '')))
      .then((pages) => pages.forEach((page, i) => console.error(`node ${i}: ${page.split('\n').filter((l) => /^sluice_(broker|outbound_queue_bytes_sum|connections |messages_out_total|messages_shed_total|gap_frames_total|disconnects_total)/.test(l)).join(' | ')}`)))
      .finally(() => process.exit(1));
  }, 120_000);
  try {
    for (let n = 0; n < NODES; n++) nodes.push(await startSluice(flags));
    await until(async () => (await Promise.all(nodes.map((n) => readyStatus(n.httpUrl)))).every((s) => s === 200), 'nodes ready', 20_000, 50);
    const subscribers = (await Promise.all(nodes.map((n) => openClients(n.port, 1, 1)))).flat();
    const subscribed = allReach(subscribers, 1 + CHANNELS / NODES);
    subscribers.forEach((s, n) => {
      const subs = Array.from({ length: CHANNELS / NODES }, (_, k) => clientFrame(`{"op":"sub","ch":"${prefix}.${k * NODES + n}","id":1}`));
      s.send(Buffer.concat(subs));
    });
    await subscribed;
    const publishers = (await Promise.all(nodes.map((n) => openClients(n.port, PUBLISHERS_PER_NODE, PUBLISHERS_PER_NODE)))).flat();
    clients = [...subscribers, ...publishers];
    // Each subscriber's third of the channels gets a third of every publisher's publications.
    const delivered = allReach(subscribers, 1 + CHANNELS / NODES + PUBLICATIONS / NODES);
    const before = await clusterCounts(admins);
    const cpuStart = nodes.reduce((s, n) => s + n.cpuSeconds(), 0);
    const start = process.hrtime.bigint();
    await Promise.all(publishers.map((p) => publish(p, PER_PUBLISHER, prefix)));
    await delivered;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const gatewayCpu = nodes.reduce((s, n) => s + n.cpuSeconds(), 0) - cpuStart;
    const after = await clusterCounts(admins);
    for (const c of [...subscribers, ...publishers]) c.destroy();
    // Reads: each INFO or PING (snapshots, health checks) arrived on a read of its own.
    return {
      rate: PUBLICATIONS / seconds,
      gatewayCpu,
      reads: after.reads - before.reads - (after.overhead - before.overhead),
      scripts: after.scripts - before.scripts,
      commands: after.commands - before.commands,
      cpu: after.cpu - before.cpu,
      overhead: after.overhead - before.overhead,
    };
  } finally {
    clearTimeout(guard);
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

async function main(): Promise<void> {
  console.log(`redis cluster: ${NODES} gateway nodes × ${PUBLISHERS_PER_NODE} publishers (${IN_FLIGHT} in flight each), ${CHANNELS} channels, ${PUBLICATIONS} publications of 100 data bytes per run; ${machine()}`);
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  const per = (n: number): string => (n / PUBLICATIONS).toFixed(3);
  for (const shards of SHARDS) {
    // A node timeout as in production: the cluster bus' heartbeats cost little CPU.
    const cluster = await startRedisCluster({ masters: shards, replicas: 0, nodeTimeoutMs: 5_000 });
    try {
      const admins = await Promise.all((await cluster.masters()).map((port) => cluster.nodeClient(port)));
      const idle = await idleCpuRate(admins);
      for (const [i, setup] of SETUPS.entries()) {
        const measured = await run(cluster, admins, setup, `bench${shards}x${i}`);
        const r = { ...measured, cpu: measured.cpu - idle * (PUBLICATIONS / measured.rate) };
        const perCpuSecond = r.cpu > 0 ? PUBLICATIONS / r.cpu : NaN;
        console.log(
          `${shards} shard(s) ${setup.name}: ${fmt(r.rate)} publications/s; per publication ${per(r.reads)} round trips, ${per(r.scripts)} script calls, ${per(r.commands)} commands, ` +
            `Redis CPU ${((r.cpu / PUBLICATIONS) * 1e6).toFixed(1)} µs (${fmt(perCpuSecond)} publications per Redis CPU-second); gateway CPU ${r.gatewayCpu.toFixed(2)} s`,
        );
      }
    } finally {
      await cluster.stop();
    }
  }
}

await main();
process.exit(0);
