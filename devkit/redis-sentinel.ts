import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { killOnExit } from './process.js';
import { exited, hasRedisServer, launch, waitForPing } from './redis.js';
import { until } from './until.js';

/**
 * A Sentinel-managed Redis for tests: one master, one replica, `sentinels` sentinels (quorum 1,
 * down-after 300 ms) on free loopback ports, no persistence; ready once the replica is in sync and
 * every sentinel knows it. Each process is stopped by its PID.
 */
export interface TestRedisSentinel {
  /** The monitored master's name (`broker.redis.sentinel.name`). */
  readonly name: string;
  /** `127.0.0.1:port` of each sentinel (`broker.redis.sentinel.sentinels`). */
  readonly sentinels: string[];
  /** The client port of the current master, as the sentinels report it. */
  master(): Promise<number>;
  /** SIGKILL the current master and wait until the sentinels promoted the replica. */
  killMaster(): Promise<void>;
  stop(): Promise<void>;
}

const NAME = 'sluice';

export async function startRedisSentinel(sentinelCount = 1): Promise<TestRedisSentinel> {
  if (!hasRedisServer()) throw new Error('Sentinel tests need redis-server on PATH (apt-get install redis-server)');
  const dir = mkdtempSync(join(tmpdir(), 'sluice-sentinel-'));
  const children = new Map<number, ChildProcess>();
  const clients: Redis[] = [];
  const client = (port: number): Redis => {
    const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => null });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  const stop = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    await Promise.all(
      [...children.values()].map(async (child) => {
        child.kill('SIGKILL');
        await exited(child);
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  const sentinelPorts: number[] = [];
  try {
    const masterPort = await freePort();
    children.set(masterPort, await launch(masterPort, ['--repl-diskless-sync-delay', '0', '--dir', dir]));
    const replicaPort = await freePort();
    children.set(replicaPort, await launch(replicaPort, ['--replicaof', '127.0.0.1', String(masterPort), '--repl-diskless-sync-delay', '0', '--dir', dir]));
    const replica = client(replicaPort);
    await until(async () => (await replica.info('replication')).includes('master_link_status:up'), 'the replica to sync', 15_000, 20);
    for (let i = 0; i < sentinelCount; i++) {
      const port = await freePort();
      const file = join(dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its config file: each gets its own, in the temporary directory.
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${NAME} 127.0.0.1 ${masterPort} 1`,
          `sentinel down-after-milliseconds ${NAME} 300`,
          `sentinel failover-timeout ${NAME} 2000`,
          `sentinel parallel-syncs ${NAME} 1`,
          '',
        ].join('\n'),
      );
      const child = spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' });
      killOnExit(child);
      children.set(port, child);
      sentinelPorts.push(port);
    }
    await Promise.all(sentinelPorts.map((port) => waitForPing(port, 10_000)));
    const sentinels = sentinelPorts.map(client);
    await until(
      async () => {
        const known = await Promise.all(sentinels.map((s) => s.call('SENTINEL', 'REPLICAS', NAME).then((r) => (r as unknown[]).length > 0, () => false)));
        return known.every(Boolean);
      },
      'every sentinel to know the replica',
      15_000,
      20,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const master = async (): Promise<number> => {
    const s = client(sentinelPorts[0]!);
    const [, port] = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as [string, string];
    s.disconnect();
    return Number(port);
  };
  return {
    name: NAME,
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`),
    master,
    async killMaster() {
      const old = await master();
      const child = children.get(old)!;
      child.kill('SIGKILL');
      await exited(child);
      children.delete(old);
      await until(async () => (await master().catch(() => old)) !== old, 'the sentinels to promote the replica', 30_000, 20);
      const promoted = client(await master());
      await until(async () => (await promoted.info('replication')).includes('role:master'), 'the replica to become master', 15_000, 20);
    },
    stop,
  };
}
