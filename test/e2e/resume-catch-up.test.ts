import { describe, expect, it } from 'vitest';
import type { Frame, TestClient } from '../helpers/client.js';
import { nodesHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';
import { account } from '../helpers/seq-account.js';
import { until } from '../../devkit/until.js';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';

const PAD = 'p'.repeat(4000);
/** Publishers, and the publications each sends per round (two bursts, then their acks): far more than a replay's share per turn (16 KiB). */
const PUBLISHERS = 4;
const BURST = 16;
/** Rounds the publishers may take before the resumer must have caught up (it needs tens). */
const MAX_ROUNDS = 200;

/**
 * A replay's share per turn at its least (16 KiB); a queue that holds many rounds' publications, so
 * that live delivery alone never cuts off a client that reads in the test's own (busy) process.
 */
const OUTBOUND = { highWaterMarkBytes: 16 * 1024, maxQueueBytes: 16 * 1024 * 1024, maxQueueMessages: 8192, softQueueBytes: 0 };
const INBOUND = { messagesPerSecond: 0, bytesPerSecond: 0 };

/**
 * The catch-up case's publications and history per broker. On Redis the publishers sit on one node
 * and the resumer on the other, and each publisher waits on Redis round trips: only publications of
 * 32 KB outpace the replay's share per turn there (the lane before the fix, ff6d6fb, closed all four
 * Redis cases 4100 at rounds 27-40 with them; with 4 KB it caught up). 96 of them keep the case
 * short (a history of 480, 15 MB, was read in one reply that took longer than
 * `broker.redis.commandTimeoutMs` on a loaded machine before the read came in chunks: see
 * test/broker/redis-history-chunks.test.ts).
 */
const CATCH_UP = { memory: { pad: PAD, history: 480 }, redis: { pad: 'p'.repeat(32_000), history: 96 } };

/** One burst of `BURST` publications from `publisher`; resolves with the seq of its last one (the only one with an id). */
async function burst(publisher: TestClient, ch: string, pad = PAD): Promise<number> {
  for (let i = 1; i < BURST; i++) publisher.send({ op: 'pub', ch, data: pad });
  const ack = await publisher.request({ op: 'pub', ch, data: pad });
  return Number(ack.seq);
}

const CASES = TRANSPORTS.flatMap((transport) => (['memory', 'redis'] as const).map((broker) => [transport, broker] as const));

describe.each(CASES)('a resumed subscription catches up with its live channel [%s, %s broker]', (transport, broker) => {
  const h = nodesHarness(transport, broker);
  const connect = h.connectTo;

  /** A channel with `history` messages published, its publishers, and where to resume it from seq 0. */
  async function published(ch: string, history: number, pad = PAD): Promise<{ epoch: string; publishers: TestClient[]; resumerUrl: string }> {
    const publisherUrl = h.nextUrl();
    const resumerUrl = h.nextUrl();
    const publishers = await Promise.all(Array.from({ length: PUBLISHERS }, () => connect(publisherUrl)));
    const first = await connect(resumerUrl);
    const ack = await first.subscribe(ch);
    first.terminate();
    for (let i = 0; i < history; i += BURST) await burst(publishers[0]!, ch, pad);
    return { epoch: String(ack.epoch), publishers, resumerUrl };
  }

  it.each([
    ['one event per frame', undefined],
    ['batch frames', ['sluice', 'sluice.batch']],
  ])('while publishers outpace a share per turn, a reading resumer gets every seq in order, then live, never 4100 (%s)', async (_, offer) => {
    await h.start({ outbound: OUTBOUND, inbound: INBOUND, channels: [{ pattern: 'feed.*', policy: 'disconnect', historySize: 2000, historyMaxBytes: 0 }] });
    const ch = 'feed.fast';
    const { pad, history } = CATCH_UP[broker];
    const { epoch, publishers, resumerUrl } = await published(ch, history, pad);
    const resumer = await connect(resumerUrl, offer === undefined ? {} : { offer });
    const ack = await resumer.request({ op: 'sub', ch, since: { epoch, seq: 0 } });
    expect(ack).toMatchObject({ ev: 'ack', recovered: true });

    // Caught up: at a round's acks, the resumer holds every seq up to the previous round's last, three rounds running.
    let last = Number(ack.seq);
    let previous = last;
    let inStep = 0;
    let rounds = 0;
    const received = () => resumer.messages(ch).length;
    while (inStep < 3 && rounds < MAX_ROUNDS && resumer.closeCode === undefined) {
      rounds++;
      const seqs = await Promise.all(publishers.flatMap((p) => [burst(p, ch, pad), burst(p, ch, pad)]));
      inStep = received() >= previous ? inStep + 1 : 0;
      previous = last = Math.max(...seqs);
    }
    expect(resumer.closeCode, `closed ${resumer.closeCode} ${resumer.closeReason} at round ${rounds}, ${received()} of ${last} received`).toBeUndefined();
    expect(inStep, `caught up within ${MAX_ROUNDS} rounds of ${PUBLISHERS * BURST * 2} publications`).toBe(3);
    await resumer.until(() => received() >= last, 30_000, `seq ${last}`);
    const { order, wrong, gaps } = account(resumer, ch, last);
    expect({ order, wrong: wrong.slice(0, 5), gaps: gaps.length }).toEqual({ order: true, wrong: [], gaps: 0 });
    expect(resumer.closeCode).toBeUndefined();
  });

  /**
   * `ch` (history 200, of `policy`) with 160 published; a resumer of it from seq 0 that stopped
   * reading while another channel filled its socket and queue: nothing of the replay can be written.
   */
  async function stalledResume(policy: SlowConsumerPolicy, ch: string) {
    const channels = [
      { pattern: 'feed.*', policy, historySize: 200, historyMaxBytes: 0 },
      { pattern: 'fill.*', policy: 'drop-oldest' as const, historySize: 0 },
    ];
    await h.start({ outbound: { ...OUTBOUND, maxQueueBytes: 64 * 1024, maxQueueMessages: 64 }, inbound: INBOUND, channels });
    const { epoch, publishers, resumerUrl } = await published(ch, 160);
    const gateway = h.lastNode().gateway;
    const resumer = await connect(resumerUrl);
    await resumer.subscribe('fill.up');
    resumer.tcp.pause();
    for (let round = 0; round < 500 && gateway.stats.shed.dropped === 0; round++) await Promise.all(publishers.map((p) => burst(p, 'fill.up')));
    expect(gateway.stats.shed.dropped).toBeGreaterThan(0);
    const shedBefore = gateway.stats.shed.dropped;
    resumer.send({ op: 'sub', ch, since: { epoch, seq: 0 }, id: 'resume' });
    // On Redis the join reads history from Redis first: the live messages must come after it.
    await until(() => gateway.connectionList().some((c) => c.subscriptionOf(ch)?.joining === false), 'the resume joined');
    return { gateway, resumer, publishers, shedBefore };
  }

  /** `resumer` reads again; resolves once it holds seq `last` of `ch` (as a message or in a gap), checking the resume recovered and every seq came once, in order. */
  async function readUpTo(resumer: TestClient, ch: string, last: number): Promise<Frame[]> {
    resumer.tcp.resume();
    const reached = (f: Frame) => f.ch === ch && Number(f.ev === 'msg' ? f.seq : f.ev === 'gap' ? f.to : 0) >= last;
    await resumer.until(() => resumer.closeCode !== undefined || resumer.frames.some(reached), 30_000, `seq ${last}`);
    expect(resumer.frames.find((f) => f.id === 'resume')).toMatchObject({ ev: 'ack', recovered: true, seq: 160 });
    const { order, wrong, gaps } = account(resumer, ch, last);
    expect({ order, wrong: wrong.slice(0, 5), closeCode: resumer.closeCode }).toEqual({ order: true, wrong: [], closeCode: undefined });
    return gaps;
  }

  it.each(['drop-oldest', 'conflate', 'drop-newest', 'disconnect'] as const)(
    'a resumer that falls a whole history behind while its replay waits: %s',
    async (policy) => {
      const ch = 'feed.lossy';
      const { gateway, resumer, publishers, shedBefore } = await stalledResume(policy, ch);
      // 160 replayed and 320 live: the lane would hold 480 messages of a 200-message history.
      let last = 0;
      for (let round = 0; round < 5; round++) last = Math.max(...(await Promise.all(publishers.map((p) => burst(p, ch)))));
      if (policy === 'disconnect') {
        resumer.tcp.resume();
        expect(await resumer.closed()).toBe(4100);
        expect(resumer.messages(ch)).toEqual([]);
        return;
      }
      const gaps = await readUpTo(resumer, ch, last);
      expect(gaps.map((g) => g.reason)).toEqual(['dropped']);
      // The lane held one history: the whole replay (1..160, recovered), then live messages, the
      // first ones with drop-newest, the newest ones with the others: 40 of them when none of the
      // replay had been written. On Redis live messages reach the node a round trip later, and the
      // socket may have taken part of the replay meanwhile: the lane then holds as many more.
      const kept = resumer.messages(ch).map((m) => Number(m.seq));
      const held = kept.length - 160;
      if (broker === 'memory') expect(held).toBe(40);
      expect(held).toBeGreaterThanOrEqual(40);
      expect(held).toBeLessThanOrEqual(200);
      const run = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
      // drop-newest keeps the first live messages and drops while the lane is full; on Redis the
      // publications still in flight from Redis when the resumer reads again find room once the lane
      // drains, so a run up to `last` may follow the gap (the memory broker has none in flight).
      const gap = gaps[0]!;
      const after = policy === 'drop-newest' ? [...run(161, Number(gap.from) - 1), ...run(Number(gap.to) + 1, last)] : run(last - held + 1, last);
      expect(kept).toEqual([...run(1, 160), ...after]);
      if (policy === 'drop-newest' && broker === 'memory') expect(Number(gap.to)).toBe(last);
      expect(gateway.stats.shed.dropped - shedBefore).toBeGreaterThanOrEqual(last - kept.length);
    },
  );

  it('a conflate resumer that falls a whole history behind gets the newest message of every key: a rare key\'s only one, a busy key\'s last', async () => {
    const ch = 'feed.keys';
    const { resumer, publishers } = await stalledResume('conflate', ch);
    // One message of a rare key, then 321 of a busy one: more than the history (200) behind the 160 replayed.
    const [publisher] = publishers as [TestClient];
    const rare = Number((await publisher.request({ op: 'pub', ch, key: 'rare', data: 'r' })).seq);
    for (let i = 0; i < 320; i++) publisher.send({ op: 'pub', ch, key: 'busy', data: i });
    const last = Number((await publisher.request({ op: 'pub', ch, key: 'busy', data: 320 })).seq);
    const gaps = await readUpTo(resumer, ch, last);
    expect(new Set(gaps.map((g) => g.reason))).toEqual(new Set(['conflated']));
    const kept = resumer.messages(ch);
    expect(kept.slice(0, 160).map((m) => Number(m.seq))).toEqual(Array.from({ length: 160 }, (_, i) => 1 + i));
    expect(kept.filter((m) => m.key === 'rare').map((m) => Number(m.seq))).toEqual([rare]);
    expect(kept.at(-1)).toMatchObject({ seq: last, key: 'busy', data: 320 });
  });
});
