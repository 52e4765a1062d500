import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/broker/redis-broker.js';
import { loadConfig } from '../../src/config/load.js';
import { startRedis, type TestRedis } from '../../devkit/redis.js';
import { silentLogger } from '../helpers/gateway.js';
import { channelFactory, historyOf, RecordingEvents, type TestChannel } from './fixtures.js';

/**
 * A history read on Redis comes in replies of about `broker.redis.historyChunkBytes` (one script
 * call each), exact however the stream moves meanwhile: a large history in one reply took longer
 * than `commandTimeoutMs` on a busy node and the resume was answered `unavailable` at every retry.
 */
describe('Redis history reads in chunks', () => {
  let redis: TestRedis;
  let inspect: Redis;
  let broker: RedisBroker | undefined;
  let n = 0;
  const fresh = (prefix: string): string => `${prefix}.${process.pid}.${++n}`;
  const channel = channelFactory({
    channels: [
      { pattern: 'big.*', historySize: 480, historyMaxBytes: 0 },
      { pattern: 'small.*', historySize: 50 },
      { pattern: 'aged.*', historySize: 500, historyTtlMs: 60_000 },
    ],
  });

  beforeAll(async () => {
    redis = await startRedis();
    inspect = redis.client();
  });
  afterAll(async () => {
    inspect.disconnect();
    await redis.stop();
  });
  afterEach(async () => {
    await broker?.close();
    broker = undefined;
  });

  async function start(historyChunkBytes?: number): Promise<RedisBroker> {
    const config = loadConfig({ overrides: { broker: { redis: { url: redis.url, ...(historyChunkBytes === undefined ? {} : { historyChunkBytes }) } } } });
    const events = new RecordingEvents();
    broker = new RedisBroker(config.broker, silentLogger());
    broker.start(events);
    await events.until(() => broker!.ready);
    return broker;
  }

  /** Script calls Redis has run so far (INFO commandstats: EVALSHA, and EVAL when a script was not loaded yet). */
  async function scriptCalls(): Promise<number> {
    const info = await inspect.info('commandstats');
    let calls = 0;
    for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(m[1]);
    return calls;
  }

  /** `count` publications, 16 per loop turn (one script call each: far from the command timeout). */
  async function publish(b: RedisBroker, ch: TestChannel, count: number, data: (i: number) => string): Promise<void> {
    for (let i = 1; i <= count; i += 16) {
      const acks = [];
      for (let k = i; k < i + 16 && k <= count; k++) acks.push(b.publish(ch.name, ch.settings, undefined, data(k), undefined));
      expect((await Promise.all(acks)).filter((ack) => !ack.ok)).toEqual([]);
    }
  }

  it('reads 480 publications of 32 KB in replies of about historyChunkBytes, every one, in order', async () => {
    const b = await start();
    const ch = channel(fresh('big'));
    const pad = 'p'.repeat(32_000);
    await publish(b, ch, 480, (i) => JSON.stringify(`${i}:${pad}`));
    const { epoch } = (await historyOf(b, ch)).position;
    const before = await scriptCalls();
    const read = await historyOf(b, ch, { epoch, seq: 0 });
    const calls = (await scriptCalls()) - before;
    expect(read).toMatchObject({ recovered: true, position: { epoch, seq: 480 } });
    expect(read.publications.map((p) => p.seq)).toEqual(Array.from({ length: 480 }, (_, i) => i + 1));
    expect(read.publications.filter((p) => p.encoded.toString() !== JSON.stringify(`${p.seq}:${pad}`)).map((p) => [p.seq, p.encoded.toString().slice(0, 20)])).toEqual([]);
    // 256 KiB replies hold 8 entries of 32 KB: 60 calls (one reply before: 1).
    expect(calls).toBe(60);
  });

  it('answers every read the contract asks for, one entry per reply: since a position, with tail, and past historyTtlMs', async () => {
    const b = await start(1);
    const small = channel(fresh('small'));
    await publish(b, small, 80, String);
    const { position } = await historyOf(b, small);
    const after40 = await historyOf(b, small, { epoch: position.epoch, seq: 40 });
    expect(after40).toMatchObject({ recovered: true, position });
    expect(after40.publications.map((p) => p.encoded.toString())).toEqual(Array.from({ length: 40 }, (_, i) => String(41 + i)));
    const tail = await historyOf(b, small, { epoch: position.epoch, seq: 5 }, true);
    expect(tail).toMatchObject({ recovered: false, position });
    expect(tail.publications.map((p) => p.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 31 + i));

    // 150 entries past historyTtlMs (more than one step of the script's scan), then 150 fresh ones.
    const aged = channel(fresh('aged'));
    await publish(b, aged, 1, String);
    const { epoch } = (await historyOf(b, aged)).position;
    const now = Date.now();
    const entries = Array.from({ length: 300 }, (_, i) => `${i + 1}:${i < 150 ? now - 3_600_000 : now}:\n${i + 1}`);
    await inspect.del(`sluice:{${aged.name}}:h`);
    await inspect.rpush(`sluice:{${aged.name}}:h`, ...entries);
    await inspect.hset(`sluice:{${aged.name}}:s`, 's', 300);
    const fromZero = await historyOf(b, aged, { epoch, seq: 0 }, true);
    expect(fromZero).toMatchObject({ recovered: false, position: { epoch, seq: 300 } });
    expect(fromZero.publications.map((p) => p.seq)).toEqual(Array.from({ length: 150 }, (_, i) => 151 + i));
    const fromFresh = await historyOf(b, aged, { epoch, seq: 200 });
    expect(fromFresh).toMatchObject({ recovered: true });
    expect(fromFresh.publications.map((p) => p.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 201 + i));
  });

  it('stays exact when publications trim history between its replies: it reads again, and answers the stream as it is then', async () => {
    const b = await start(1);
    for (const tail of [false, true]) {
      const ch = channel(fresh('small'));
      await publish(b, ch, 50, String);
      const { epoch } = (await historyOf(b, ch)).position;
      // The read's first reply comes before the publications (sent in the next loop turn); its next chunks after them.
      const reading = historyOf(b, ch, { epoch, seq: 0 }, tail);
      const acks = Array.from({ length: 100 }, (_, i) => b.publish(ch.name, ch.settings, undefined, String(51 + i), undefined));
      expect((await Promise.all(acks)).filter((ack) => !ack.ok)).toEqual([]);
      const read = await reading;
      expect(read.position.epoch).toBe(epoch);
      const top = read.position.seq;
      const seqs = read.publications.map((p) => p.seq);
      if (read.recovered) expect(seqs).toEqual(Array.from({ length: top }, (_, i) => i + 1));
      else expect(seqs).toEqual(tail ? Array.from({ length: 50 }, (_, i) => top - 49 + i) : []);
      expect(read.publications.every((p) => p.encoded.toString() === String(p.seq))).toBe(true);
      // Read again after the 150: history holds 101..150 only.
      expect(top).toBe(150);
      expect(read.recovered).toBe(false);
    }
  });
});
