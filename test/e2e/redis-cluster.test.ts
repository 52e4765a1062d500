import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, stopCluster, type ClusterNode } from '../helpers/cluster.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { FAILOVER_NODE_FLAGS, runFailover } from '../helpers/failover.js';
import { checkPresenceUnion, PRESENCE_NODE_FLAGS } from '../helpers/presence-union.js';
import { startRedisCluster, type TestRedisCluster } from '../../devkit/redis-cluster.js';

/**
 * Three gateway processes on a real Redis Cluster (3 masters, 3 replicas): channels spread over
 * every shard, sharded pub/sub, presence counted across the nodes, and a master SIGKILLed mid-stream.
 */
describe('three nodes on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let nodes: ClusterNode[];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster();
    nodes = await startCluster(3, 'redis://127.0.0.1:6379', [
      '--broker.redis.cluster', JSON.stringify(cluster.seeds),
      ...FAILOVER_NODE_FLAGS,
      ...PRESENCE_NODE_FLAGS,
    ]);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await stopCluster(nodes ?? []);
    await cluster?.stop();
  }, 30_000);

  /** `perShard` channel names starting with `prefix` on each master. */
  const spread = async (prefix: string, perShard: number): Promise<string[]> => {
    const byMaster = new Map<number, string[]>();
    for (let i = 0; [...byMaster.values()].filter((l) => l.length >= perShard).length < 3; i++) {
      const name = `${prefix}.${i}`;
      const master = await cluster.masterOf(`{${name}}`);
      const list = byMaster.get(master) ?? [];
      if (list.length < perShard) byMaster.set(master, [...list, name]);
    }
    return [...byMaster.values()].flat();
  };
  const isMsg = (ch: string) => (f: Frame) => f.ev === 'msg' && f.ch === ch;

  it('delivers every message to every subscriber on every node exactly once, in seq order, on every shard', async () => {
    const channels = await spread('room', 2);
    const connect = async (node: ClusterNode): Promise<TestClient> => {
      const c = await TestClient.connect(node.url);
      clients.push(c);
      return c;
    };
    const subscribers = await Promise.all(Array.from({ length: 12 }, (_, i) => connect(nodes[i % 3]!)));
    for (const s of subscribers) for (const ch of channels) await s.subscribe(ch);
    const publishers = await Promise.all(nodes.map(connect));
    const perPublisher = 60;
    await Promise.all(
      publishers.map(async (pub, p) => {
        for (let i = 0; i < perPublisher; i++) {
          const acks = channels.map((ch) => pub.request({ op: 'pub', ch, data: { p, i } }));
          for (const ack of await Promise.all(acks)) expect(ack).toMatchObject({ ev: 'ack' });
        }
      }),
    );
    const total = perPublisher * publishers.length;
    for (const s of subscribers) {
      for (const ch of channels) {
        const msgs = await s.waitForCount(isMsg(ch), total);
        expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        expect(new Set(msgs.map((m) => JSON.stringify(m.data))).size).toBe(total);
      }
      expect(s.frames.filter((f) => f.ev === 'gap')).toEqual([]);
    }
  });

  it('counts presence across the cluster: members on every node, channels on every shard, each joins and leaves once', async () => {
    await checkPresenceUnion(nodes, await spread('who', 1), clients);
  });

  it('survives a master SIGKILLed mid-stream: its replica takes over, every message recovered or announced, nobody disconnected', async () => {
    const channels = await spread('fo', 1);
    const victim = await cluster.masterOf(`{${channels[0]}}`);
    await runFailover({ nodes, channels, clients, kill: () => cluster.killMaster(victim) });
  }, 90_000);
});
