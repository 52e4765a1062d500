import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../helpers/gateway.js';
import { startRedisCluster, type TestRedisCluster } from '../../devkit/redis-cluster.js';
import { brokerContract } from './contract.js';
import { channelFactory, historyOf, RecordingEvents } from './fixtures.js';

/** The Redis broker on a real 3-master/3-replica Redis Cluster, started once for this file. */
let cluster: TestRedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
});
afterAll(async () => {
  await cluster?.stop();
});

const clusterConfig = () => loadConfig({ overrides: { broker: { redis: { cluster: cluster.seeds, reconnectMinMs: 50, reconnectMaxMs: 250 } } } }).broker;

brokerContract({ name: 'redis cluster', setup: async () => {}, create: async () => new RedisBroker(clusterConfig(), silentLogger()), teardown: async () => {} });

describe('redis broker on a Redis Cluster', () => {
  let broker: RedisBroker | undefined;
  const channel = channelFactory();
  let n = 0;
  const fresh = (): string => `cl.${process.pid}.${++n}`;

  afterEach(async () => {
    await broker?.close();
  });

  const start = async (): Promise<{ broker: RedisBroker; events: RecordingEvents }> => {
    broker = new RedisBroker(clusterConfig(), silentLogger());
    const events = new RecordingEvents();
    broker.start(events);
    await events.until(() => broker!.ready);
    return { broker, events };
  };

  /** `count` fresh channels, at least one on each master. */
  const spread = async (count: number): Promise<string[]> => {
    const names = Array.from({ length: count }, fresh);
    const owners = new Set(await Promise.all(names.map((c) => cluster.masterOf(`{${c}}`))));
    expect(owners.size).toBe(3);
    return names;
  };

  it('sends a loop turn of publications over every shard in one round trip per shard, each channel in order', async () => {
    const { broker, events } = await start();
    const names = await spread(30);
    for (const name of names) expect(await broker.subscribe(name)).toBe(true);
    const before = broker.publishStats();
    const outcomes = await Promise.all(Array.from({ length: 150 }, (_, i) => broker.publish(names[i % 30]!, channel(names[i % 30]!).settings, undefined, String(i))));
    expect(outcomes.map((o) => (o.ok ? o.seq : o.code))).toEqual(Array.from({ length: 150 }, (_, i) => Math.floor(i / 30) + 1));
    const after = broker.publishStats();
    expect(after.roundTrips - before.roundTrips).toBe(3);
    expect(after.calls - before.calls).toBe(30);
    await events.until(() => events.delivered.length === 150);
    for (const [c, name] of names.entries()) {
      expect(events.delivered.filter((p) => p.channel === name).map((p) => p.encoded.toString())).toEqual([0, 1, 2, 3, 4].map((k) => String(c + 30 * k)));
    }
  });

  it('delivers through shard channels on the master of the channel’s slot, with the channel’s keys', async () => {
    const { broker } = await start();
    const name = fresh();
    await broker.subscribe(name);
    await broker.publish(name, channel(name).settings, undefined, '1');
    const master = cluster.nodeClient(await cluster.masterOf(`{${name}}`));
    expect(await master.call('PUBSUB', 'SHARDNUMSUB', `sluice:{${name}}:m`)).toEqual([`sluice:{${name}}:m`, 1]);
    expect(await master.call('PUBSUB', 'NUMSUB', `sluice:m:${name}`)).toEqual([`sluice:m:${name}`, 0]);
    expect(await master.exists(`sluice:{${name}}:s`, `sluice:{${name}}:h`)).toBe(2);
  });

  // Last: it leaves the cluster with one master fewer.
  it('rides out a master killed and its replica promoted: interrupted, restored, history intact, delivery resumed', async () => {
    const { broker, events } = await start();
    const names = await spread(12);
    for (const name of names) await broker.subscribe(name);
    for (const name of names) await broker.publish(name, channel(name).settings, undefined, 'before');
    await events.until(() => events.delivered.length === 12);
    const victim = await cluster.masterOf(`{${names[0]}}`);
    await cluster.killMaster(victim);
    await events.until(() => events.interruptions >= 1 && broker.ready, 15_000);
    expect(events.restorations).toBeGreaterThanOrEqual(2);
    for (const name of names) {
      const published = await broker.publish(name, channel(name).settings, undefined, 'after');
      expect(published).toMatchObject({ ok: true, seq: 2 });
      expect((await historyOf(broker, channel(name))).position.seq).toBe(2);
    }
    await events.until(() => events.delivered.length === 24);
    expect(events.delivered.slice(12).map((p) => p.seq)).toEqual(Array(12).fill(2));
  }, 30_000);
});
