import { MemoryBudget } from '../../src/util/memory-budget.js';
import { describe, expect, it } from 'vitest';
import type { Broker, BrokerEvents, HistoryOutcome, LatestOutcome } from '../../src/broker/broker.js';
import type { StreamPosition } from '../../src/stream/position.js';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { DELIVERY, type DeliveryOutcome, type JoinOutcome, type Subscriber } from '../../src/hub/channel.js';
import { Hub } from '../../src/hub/hub.js';
import type { Publication } from '../../src/stream/publication.js';
import { silentLogger } from '../helpers/gateway.js';

/**
 * The hub's splice of history and live publications, driven step by step: a broker whose history
 * replies the test releases when it wants, and live publications injected in between — the races
 * a real Redis produces only by chance.
 */
class SteppedBroker implements Broker {
  ready = true;
  events!: BrokerEvents;
  readonly reads: Array<{ since: StreamPosition | undefined; answer: (o: HistoryOutcome) => void }> = [];
  private onRead: (() => void) | undefined;
  /** Resolves at the next history read. */
  nextRead(): Promise<void> {
    return new Promise((resolve) => (this.onRead = resolve));
  }
  start(events: BrokerEvents): void {
    this.events = events;
  }
  publish(): never {
    throw new Error('not used');
  }
  subscribe(): boolean {
    return true;
  }
  unsubscribe(): void {}
  history(_channel: unknown, _settings: unknown, since: StreamPosition | undefined): Promise<HistoryOutcome> {
    return new Promise((answer) => {
      this.reads.push({ since, answer });
      this.onRead?.();
    });
  }
  latest(): LatestOutcome {
    return { ok: true, epoch: '', seq: 0, latest: undefined };
  }
  retains(): boolean {
    return false;
  }
  trimHistory(): void {}
  release(): void {}
  async close(): Promise<void> {}
}

class Recorder implements Subscriber {
  readonly wantsDeltas = false;
  readonly wantsState = false;
  readonly joins: JoinOutcome[] = [];
  readonly got: Array<number | Record<string, unknown>> = [];
  joined(outcome: JoinOutcome): void {
    this.joins.push(outcome);
  }
  deliver(pub: Publication): DeliveryOutcome {
    const frame = JSON.parse(pub.encoded.toString()) as Record<string, unknown>;
    this.got.push(frame.ev === 'msg' ? (frame.seq as number) : frame);
    return DELIVERY.written;
  }
  replay(pubs: readonly Publication[]): void {
    for (const pub of pubs) this.deliver(pub);
  }
  snapshot(): void {}
  restate(): void {}
}

function setup() {
  const broker = new SteppedBroker();
  const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  const hub = new Hub({
    rules: new ChannelRules(loadConfig({})),
    maxChannels: 10,
    budget,
    prepare: (p) => p,
    clock: () => 0,
    broker,
    maxJoinBuffer: 100,
    log: silentLogger(),
  });
  broker.start(hub);
  const channel = hub.channel('c')!;
  const live = (seq: number, epoch = 'E') => hub.deliver(hub.encode('c', epoch, seq, undefined, String(seq)));
  /** Answers the oldest read (or read number `at`): the position, and the publications `from` on (all of them, or a tail). */
  const answer = (position: StreamPosition, from?: number, recovered = from !== undefined, at = 0) => {
    const read = broker.reads.splice(at, 1)[0]!;
    const publications = from !== undefined ? Array.from({ length: position.seq - from + 1 }, (_, i) => hub.encode('c', position.epoch, from + i, undefined, String(from + i))) : [];
    // As Redis does: a tail is answered only for a stream that continues the read's position.
    read.answer({ ok: true, position, recovered, continued: recovered || publications.length > 0, publications });
  };
  const settle = () => new Promise((r) => setTimeout(r, 0));
  /** A subscriber live at seq 10 of epoch E. */
  const first = async () => {
    const s = new Recorder();
    hub.subscribe(channel, s);
    answer({ epoch: 'E', seq: 10 });
    await settle();
    return s;
  };
  /** The broker's link drops and comes back: the hub starts repairing. */
  const relink = () => {
    hub.interrupted();
    hub.restored();
  };
  return { hub, broker, budget, channel, live, answer, settle, first, relink };
}

describe('hub: joining and repairing against an asynchronous broker', () => {
  it('splices live publications that arrive during a history read after the history, once each', async () => {
    const { hub, channel, live, answer, settle, first } = setup();
    const s1 = await first();
    const s2 = new Recorder();
    hub.subscribe(channel, s2, { epoch: 'E', seq: 5 });
    live(11);
    live(12);
    answer({ epoch: 'E', seq: 11 }, 6); // the read saw 11, not yet 12
    await settle();
    live(13);
    expect(s2.joins).toEqual([{ ok: true, epoch: 'E', seq: 11, recovered: true }]);
    expect(s2.got).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
    expect(s1.got).toEqual([11, 12, 13]);
  });

  it('holds back live publications a joiner already got from history (history ahead of the live stream)', async () => {
    const { hub, channel, live, answer, settle, first } = setup();
    const s1 = await first();
    const s2 = new Recorder();
    hub.subscribe(channel, s2);
    answer({ epoch: 'E', seq: 12 }); // 11 and 12 are published but not yet received here
    await settle();
    live(11);
    live(12);
    live(13);
    expect(s2.joins[0]).toMatchObject({ seq: 12 });
    expect(s2.got).toEqual([13]);
    expect(s1.got).toEqual([11, 12, 13]);
  });

  it('repairs a stream after a lost link from history, holding live publications meanwhile', async () => {
    const { broker, live, answer, settle, first, relink } = setup();
    const s1 = await first();
    relink();
    expect(broker.reads[0]!.since).toEqual({ epoch: 'E', seq: 10 });
    live(14);
    answer({ epoch: 'E', seq: 13 }, 11);
    await settle();
    live(15);
    expect(s1.got).toEqual([11, 12, 13, 14, 15]);
  });

  it('announces what history no longer holds with one unavailable gap, then goes on', async () => {
    const { hub, live, answer, settle, first, relink } = setup();
    const s1 = await first();
    relink();
    answer({ epoch: 'E', seq: 13 }, undefined, false);
    await settle();
    live(14);
    expect(s1.got).toEqual([{ ev: 'gap', ch: 'c', from: 11, to: 13, n: 3, reason: 'unavailable', epoch: 'E', seq: 13 }, 14]);
    expect(hub.notices).toBe(1);
  });

  it('announces a lost stream with a reset notice carrying the new epoch, then follows it', async () => {
    const { live, answer, settle, first, relink } = setup();
    const s1 = await first();
    relink();
    answer({ epoch: 'F', seq: 2 }, undefined, false);
    await settle();
    live(3, 'F');
    live(3, 'F');
    expect(s1.got).toEqual([{ ev: 'gap', ch: 'c', from: 11, reason: 'reset', epoch: 'F', seq: 2 }, 3]);
  });

  it('retries a repair whose history read failed, while the broker is up', async () => {
    const { hub, broker, live, answer, settle, first } = setup();
    const s1 = await first();
    live(12); // 11 was missed: repair
    const retried = broker.nextRead();
    broker.reads.shift()!.answer({ ok: false, code: 'unavailable' });
    await retried; // the hub's retry timer fires by itself
    expect(broker.reads).toHaveLength(1);
    answer({ epoch: 'E', seq: 12 }, 11);
    await settle();
    expect(s1.got).toEqual([11, 12]);
    expect(hub.repairs).toBe(1);
  });

  it('counts the publications a repair holds in the budget’s held pool until it hands them on', async () => {
    const { budget, live, answer, settle, first } = setup();
    const s1 = await first();
    live(12); // 11 was missed: repair, holding 12
    live(13);
    const two = budget.pools.held.bytes;
    expect(two).toBeGreaterThan(0);
    live(14);
    expect(budget.pools.held.bytes).toBe((two * 3) / 2);
    answer({ epoch: 'E', seq: 11 }, 11);
    await settle();
    expect(s1.got).toEqual([11, 12, 13, 14]);
    expect(budget.pools.held.bytes).toBe(0);
  });

  it('releases what a repair holds when it starts over past maxJoinBuffer, and when the last subscriber leaves', async () => {
    const { hub, budget, channel, live, answer, settle, first } = setup();
    const s1 = await first();
    for (let seq = 12; seq < 112; seq++) live(seq); // 11 was missed: the repair holds 100
    expect(budget.pools.held.bytes).toBeGreaterThan(0);
    live(112); // one more than maxJoinBuffer: dropped, history is read again
    expect(budget.pools.held.bytes).toBe(0);
    live(113);
    expect(budget.pools.held.bytes).toBeGreaterThan(0);
    hub.unsubscribe(channel, s1);
    expect(budget.pools.held.bytes).toBe(0);
    answer({ epoch: 'E', seq: 111 }, 11);
    await settle();
    expect(budget.pools.held.bytes).toBe(0);
  });

  it('a joiner answered while the node repairs its stream reads again after the repair: nothing twice', async () => {
    const { hub, broker, channel, live, answer, settle } = setup();
    const s1 = new Recorder();
    hub.subscribe(channel, s1);
    answer({ epoch: '~A', seq: 0 }); // subscribed before the first publish
    await settle();
    const s2 = new Recorder();
    hub.subscribe(channel, s2);
    live(1, 'F'); // the node repairs: its provisional position continues into F
    live(2, 'F');
    live(3, 'F');
    answer({ epoch: 'F', seq: 3 }, undefined, undefined, 0); // s2's read, answered first
    await settle();
    answer({ epoch: 'F', seq: 3 }, 1); // the repair's
    await settle();
    expect(broker.reads).toHaveLength(1); // s2 reads again
    answer({ epoch: 'F', seq: 3 });
    await settle();
    live(4, 'F');
    expect(s1.got).toEqual([1, 2, 3, 4]);
    expect(s2.joins).toEqual([{ ok: true, epoch: 'F', seq: 3, recovered: undefined }]);
    expect(s2.got).toEqual([4]);
  });

  it('hands on the live publications it held during a repair when history holds only their tail', async () => {
    const { hub, channel, live, answer, settle } = setup();
    const s1 = new Recorder();
    hub.subscribe(channel, s1);
    answer({ epoch: '~A', seq: 0 });
    await settle();
    for (let seq = 1; seq <= 6; seq++) live(seq, 'F'); // a burst larger than history (5)
    answer({ epoch: 'F', seq: 6 }, 2, false); // history: only the tail 2..6
    await settle();
    expect(s1.got).toEqual([1, 2, 3, 4, 5, 6]);
    expect(hub.notices).toBe(0);
  });

  it('a joiner whose read is answered after a repair that ran meanwhile holds each publication once, and gets all of them', async () => {
    const { hub, budget, channel, live, answer, settle, first } = setup();
    const s1 = await first();
    const s2 = new Recorder();
    hub.subscribe(channel, s2); // its read (reads[0]) stays out
    live(12); // 11 was missed: the node repairs (reads[1]), holding 12
    live(13);
    answer({ epoch: 'E', seq: 13 }, 11, true, 1); // the repair's read, answered first (as a read in chunks can be)
    await settle();
    expect(s1.got).toEqual([11, 12, 13]);
    const join = channel.joins[0]!;
    expect(join.buffer.map((p) => p.seq)).toEqual([11, 12, 13]); // handed on once each, by the repair
    answer({ epoch: 'E', seq: 10 }); // the joiner's read ran before 11
    await settle();
    live(14);
    expect(s2.got).toEqual([11, 12, 13, 14]);
    expect(s1.got).toEqual([11, 12, 13, 14]);
    expect(budget.pools.held.bytes).toBe(0);
  });

  it('a joiner served ahead of the node when its link drops learns only the loss past its own position', async () => {
    const { hub, channel, live, answer, settle, first, relink } = setup();
    const s1 = await first();
    const s2 = new Recorder();
    hub.subscribe(channel, s2);
    answer({ epoch: 'E', seq: 12 }); // served at 12; 11 and 12 not yet received here
    await settle();
    relink();
    answer({ epoch: 'E', seq: 20 }, 16, false); // history holds 16..20 only
    await settle();
    live(21);
    const gap = (from: number) => ({ ev: 'gap', ch: 'c', from, to: 15, n: 16 - from, reason: 'unavailable', epoch: 'E', seq: 15 });
    expect(s1.got).toEqual([gap(11), 16, 17, 18, 19, 20, 21]);
    expect(s2.got).toEqual([gap(13), 16, 17, 18, 19, 20, 21]);
  });

  it('a repair that finds the stream lost drops what it held of that stream and announces the loss once', async () => {
    const { hub, broker, channel, live, answer, settle, relink } = setup();
    const s1 = new Recorder();
    hub.subscribe(channel, s1);
    answer({ epoch: '~A', seq: 0 });
    await settle();
    for (let seq = 1; seq <= 3; seq++) live(seq, 'F'); // held: the repair's read is in flight when Redis dies
    relink(); // Redis restarted empty: the repair reads again
    answer({ epoch: '~B', seq: 0 }, undefined, false, 1);
    await settle();
    expect(s1.got).toEqual([{ ev: 'gap', ch: 'c', from: 1, reason: 'reset', epoch: '~B', seq: 0 }]);
    expect(broker.reads).toHaveLength(1); // only the first, stale read: no repair goes round again
    live(1, 'G');
    answer({ epoch: 'G', seq: 1 }, 1, true, 1);
    await settle();
    expect(s1.got.slice(1)).toEqual([1]);
  });

  it('a first joiner answered at a provisional position after the stream began gets the publications buffered meanwhile, without waiting for another one', async () => {
    const { hub, broker, channel, live, answer, settle } = setup();
    const s1 = new Recorder();
    hub.subscribe(channel, s1);
    live(1, 'F'); // published after the read ran, received before its answer: buffered
    live(2, 'F');
    answer({ epoch: '~A', seq: 0 }); // the read ran before the first publish
    await settle();
    expect(s1.joins).toEqual([{ ok: true, epoch: '~A', seq: 0, recovered: undefined }]);
    // The node repairs at once: its provisional position continues into F.
    expect(broker.reads).toHaveLength(1);
    expect(broker.reads[0]!.since).toEqual({ epoch: '~A', seq: 0 });
    answer({ epoch: 'F', seq: 2 }, 1);
    await settle();
    expect(s1.got).toEqual([1, 2]);
    live(3, 'F');
    expect(s1.got).toEqual([1, 2, 3]);
  });
});
