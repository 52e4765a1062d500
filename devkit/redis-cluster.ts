import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './ports.js';
import { exited, hasRedisServer, launch } from './redis.js';
import { until } from './until.js';

/**
 * A real Redis Cluster for tests and benchmarks: `masters` × (1 + `replicas`) `redis-server
 * --cluster-enabled yes` on free loopback ports (client and bus ports both picked free), no
 * persistence, joined by `redis-cli --cluster create`, ready once every node reports the whole
 * slot space assigned, state ok and every replica in sync. Each process is stopped by its PID.
 */
export interface TestRedisCluster {
  /** Seed nodes as `broker.redis.cluster` takes them: `127.0.0.1:port`, masters first. */
  readonly seeds: string[];
  /** A cluster client for inspecting Redis. */
  client(): Cluster;
  /** A plain client of one node. */
  nodeClient(port: number): Redis;
  /** The client port of the master that serves the slot of `key`. */
  masterOf(key: string): Promise<number>;
  /** Client ports of the current masters. */
  masters(): Promise<number[]>;
  /** SIGKILL a master (its data is gone) and wait until a replica serves its slots and the cluster is ok again. */
  killMaster(port: number): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  readonly masters?: number;
  readonly replicas?: number;
  /** cluster-node-timeout: how long a silent master takes to be failed over (plus the election). */
  readonly nodeTimeoutMs?: number;
}

interface ClusterNode {
  readonly port: number;
  child: ChildProcess | undefined;
}

const SLOTS = 16384;

export async function startRedisCluster(options: ClusterOptions = {}): Promise<TestRedisCluster> {
  if (!hasRedisServer()) throw new Error('Redis Cluster tests need redis-server and redis-cli on PATH (apt-get install redis-server)');
  const { masters = 3, replicas = 1, nodeTimeoutMs = 500 } = options;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cluster-'));
  const nodes: ClusterNode[] = [];
  const clients: Array<Redis | Cluster> = [];
  const stop = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    await Promise.all(
      nodes.map(async (n) => {
        n.child?.kill('SIGKILL');
        if (n.child) await exited(n.child);
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  const nodeClient = (port: number): Redis => {
    const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => null });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) nodes.push(await launchNode(dir, nodeTimeoutMs));
    if (masters >= 3) await createCluster(nodes.map((n) => n.port), replicas);
    else await assignSlots(nodes.map((n) => n.port), masters);
    const probes = nodes.map((n) => nodeClient(n.port));
    await until(async () => (await Promise.all(probes.map((c) => healthy(c, nodes.length)))).every(Boolean), 'the Redis Cluster to be ok on every node', 30_000, 20);
    for (const c of probes) c.disconnect();
  } catch (err) {
    await stop();
    throw err;
  }
  const live = (): ClusterNode[] => nodes.filter((n) => n.child !== undefined && n.child.exitCode === null && n.child.signalCode === null);
  const slotOwners = async (): Promise<Array<[from: number, to: number, port: number]>> => {
    const c = nodeClient(live()[0]!.port);
    const slots = await c.cluster('SLOTS');
    c.disconnect();
    return slots.map(([from, to, owner]) => [from, to, owner![1]]);
  };
  const masterPorts = async (): Promise<number[]> => [...new Set((await slotOwners()).map(([, , port]) => port))];
  return {
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`),
    client() {
      const c = new Cluster(nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { redisOptions: { maxRetriesPerRequest: 1 } });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    nodeClient,
    async masterOf(key) {
      const c = nodeClient(live()[0]!.port);
      const slot = await c.cluster('KEYSLOT', key);
      c.disconnect();
      return (await slotOwners()).find(([from, to]) => slot >= from && slot <= to)![2];
    },
    masters: masterPorts,
    async killMaster(port) {
      const node = nodes.find((n) => n.port === port)!;
      node.child!.kill('SIGKILL');
      await exited(node.child!);
      const survivors = live().map((n) => nodeClient(n.port));
      await until(
        async () => {
          const owners = await slotOwners().catch(() => []);
          const covered = owners.reduce((sum, [from, to, p]) => sum + (p === port ? 0 : to - from + 1), 0);
          if (covered !== SLOTS) return false;
          return (await Promise.all(survivors.map((c) => c.cluster('INFO').then((i) => String(i).includes('cluster_state:ok'), () => false)))).every(Boolean);
        },
        `a replica to take over the slots of ${port}`,
        30_000,
        20,
      );
      for (const c of survivors) c.disconnect();
    },
    stop,
  };
}

function createCluster(ports: number[], replicas: number): Promise<void> {
  const args = ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'];
  const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli --cluster create exited with ${code}: ${output.slice(-2000)}`))));
  });
}

/**
 * `redis-cli --cluster create` wants at least 3 masters: a smaller cluster (a benchmark's single
 * shard) gets its slots split by hand, its nodes introduced by CLUSTER MEET, replicas attached.
 */
async function assignSlots(ports: number[], masters: number): Promise<void> {
  const clients = ports.map((port) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 }));
  try {
    const per = Math.ceil(SLOTS / masters);
    for (let m = 0; m < masters; m++) await clients[m]!.call('CLUSTER', 'ADDSLOTSRANGE', String(m * per), String(Math.min(SLOTS, (m + 1) * per) - 1));
    for (const c of clients.slice(1)) await c.cluster('MEET', '127.0.0.1', ports[0]!);
    const ids = await Promise.all(clients.slice(0, masters).map((c) => c.cluster('MYID')));
    await until(async () => (await Promise.all(clients.map((c) => c.cluster('INFO')))).every((i) => String(i).includes(`cluster_known_nodes:${ports.length}`)), 'the nodes to meet', 15_000, 20);
    for (let r = masters; r < ports.length; r++) await clients[r]!.cluster('REPLICATE', String(ids[r % masters]));
  } finally {
    for (const c of clients) c.disconnect();
  }
}

/** Every slot assigned, state ok, every node known, and (on a replica) its link to the master up. */
async function healthy(c: Redis, count: number): Promise<boolean> {
  try {
    const info = String(await c.cluster('INFO'));
    if (!info.includes('cluster_state:ok') || !info.includes(`cluster_slots_ok:${SLOTS}`) || !info.includes(`cluster_known_nodes:${count}`)) return false;
    const replication = await c.info('replication');
    return replication.includes('role:master') || replication.includes('master_link_status:up');
  } catch {
    return false;
  }
}

/**
 * One cluster node on two free loopback ports (client and bus). A port probed free may be taken by
 * another process before redis-server binds it (tests run in parallel): a node that exits at start
 * is tried again on other ports, as `startRedis` does.
 */
async function launchNode(dir: string, nodeTimeoutMs: number): Promise<ClusterNode> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const bus = await freePort();
    if (bus === port) continue;
    try {
      const child = await launch(port, [
        '--cluster-enabled', 'yes',
        '--cluster-port', String(bus),
        // A node that never met another does not know its own address: announce it.
        '--cluster-announce-ip', '127.0.0.1',
        '--cluster-config-file', `nodes-${port}.conf`,
        '--cluster-node-timeout', String(nodeTimeoutMs),
        // Other shards keep serving while one fails over (what Sluice's docs recommend).
        '--cluster-require-full-coverage', 'no',
        '--repl-diskless-sync-delay', '0',
        '--dir', dir,
      ]);
      return { port, child };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError ?? new Error('no two free ports for a Redis Cluster node');
}
