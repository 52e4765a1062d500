import { describe, expect, it } from 'vitest';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { Channel } from '../../src/hub/channel.js';
import { Stats } from '../../src/observability/stats.js';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';
import { encodeMessage, encodeUnavailableGap } from '../../src/protocol/frames.js';
import { OutboundWriter, type WriterOwner } from '../../src/session/outbound-writer.js';
import { Subscription } from '../../src/session/subscription.js';
import { TurnAllowance } from '../../src/session/turn-allowance.js';
import { WriteBatcher, type Corked } from '../../src/session/write-batcher.js';
import { Publication } from '../../src/stream/publication.js';
import { MemoryBudget } from '../../src/util/memory-budget.js';
import { FakeSocket } from '../helpers/fake-socket.js';

/**
 * The replay lane's per-turn bound: beyond its share (`highWaterMarkBytes`), a turn writes only
 * as many bytes as live messages joined the replay and still wait in it. A live message shed or
 * dropped before it is written takes back the credit it brought.
 */

const HISTORY = 20;
const PAYLOAD = JSON.stringify('x'.repeat(80));

/** The loop's end-of-turn uncork is the test's to call. */
class TurnBatcher extends WriteBatcher {
  override add(_item: Corked): void {}
}

function setup(policy: SlowConsumerPolicy, maxAgeMs = 0, bounds = { historySize: HISTORY, historyMaxBytes: 0 }) {
  const rules = new ChannelRules(loadConfig({ overrides: { channels: [{ pattern: '*', policy, ...bounds, maxAgeMs }] } }));
  const channels = ['a', 'b'].map((name) => new Channel(name, rules.settingsFor(name)));
  const socket = new FakeSocket();
  /** 4100s the writer asked for. */
  const cuts: number[] = [];
  const subs = new Map<string, Subscription>();
  const owner: WriterOwner = {
    subscriptionOf: (c) => subs.get(c),
    subscriptions: () => subs.values(),
    slowConsumer: () => void cuts.push(0),
    drained: () => {},
    repliesBackedUp: () => false,
    repliesDrained: () => {},
  };
  const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  const clock = { now: 0 };
  const seqs = new Map<string, number>();
  const pub = (channel: Channel, key?: string, payload_ = PAYLOAD): Publication => {
    // Three-digit seqs: every message encodes to the same size.
    const seq = (seqs.get(channel.name) ?? 99) + 1;
    seqs.set(channel.name, seq);
    const payload = encodeMessage(channel.name, seq, key, payload_);
    const conflationKey = key !== undefined && channel.queuePolicy.policy === 'conflate' ? `${channel.name}\0${key}` : undefined;
    const p = new Publication(channel.name, channel.queuePolicy, '', seq, key, conflationKey, payload, clock.now);
    p.prepared = payload;
    return p;
  };
  const size = pub(new Channel('a', rules.settingsFor('a'))).bytes;
  // A share of one message per turn.
  const settings = { maxQueueBytes: 1e6, maxQueueMessages: 1000, softQueueBytes: 0, softLimitMs: 0, controlQueueMessages: 16, highWaterMarkBytes: size - 1, minReceiveWindowBytes: 1024, maxReceiveWindowBytes: 1e9 };
  const writer = new OutboundWriter({ socket, settings, stats: new Stats(), clock: () => clock.now, batcher: new TurnBatcher(), pacer: new TurnAllowance(0, () => {}), owner, pools: budget.pools });
  for (const channel of channels) subs.set(channel.name, new Subscription(channel, writer));
  const [a, b] = channels as [Channel, Channel];
  /** A resume of `channel` replaying `n` messages of its history. */
  const resume = (channel: Channel, n = HISTORY) => subs.get(channel.name)!.replay(Array.from({ length: n }, () => pub(channel)));
  const live = (channel: Channel, key?: string, payload?: string) => subs.get(channel.name)!.deliver(pub(channel, key, payload));
  /** A broker notice (stream-repair): the node missed `n` publications of `channel`, which history no longer holds. */
  const lost = (channel: Channel, n: number) => {
    const from = (seqs.get(channel.name) ?? 99) + 1;
    const to = from + n - 1;
    seqs.set(channel.name, to);
    const text = encodeUnavailableGap(channel.name, from, to, '');
    const notice = new Publication('', { policy: 'disconnect', maxAgeMs: 0 }, '', to, undefined, undefined, Buffer.from(text), 0);
    notice.prepared = notice.encoded;
    subs.get(channel.name)!.deliver(notice);
  };
  /** Data messages the socket took since the last call (gap frames aside). */
  const taken = () => socket.written.splice(0).filter((t) => t.includes('"seq"') && !t.includes('"ev":"gap"')).length;
  const drain = () => {
    socket.full = false;
    socket.room = Infinity;
    writer.onDrain();
  };
  return { socket, writer, subs, cuts, clock, a, b, resume, live, lost, taken, drain };
}

describe('ReplayLane: credit of live messages', () => {
  it('a live message the policy sheds behind a replay takes back its credit (drop-oldest: one turn writes its share and the live bytes still held)', () => {
    const { socket, writer, a, resume, live, taken, drain } = setup('drop-oldest');
    socket.full = true;
    resume(a); // a whole history waits
    for (let i = 0; i < 100; i++) live(a); // each sheds the previous one: one live message is held
    expect(writer.shed.dropped).toBe(99);
    drain();
    // One turn: one message on the credit of the one live message held, one on the share.
    expect(taken()).toBe(2);
    for (let turn = 0; turn < 40 && !writer.idle; turn++) {
      writer.uncork();
      writer.continueTurn();
    }
    expect(writer.idle).toBe(true);
  });

  it('an unsubscribed replay takes back the credit of its live messages (another replay goes on at its share)', () => {
    const { socket, writer, subs, a, b, resume, live, taken, drain } = setup('disconnect');
    socket.full = true;
    resume(a, 5);
    resume(b);
    for (let i = 0; i < 10; i++) live(a); // held behind a's replay, within a history
    writer.forget(subs.get('a')!);
    drain();
    // Nothing of a is owed; b's replay writes one share.
    expect(taken()).toBe(1);
  });
});

describe('ReplayLane: a broker notice behind a replay', () => {
  it.each(['drop-oldest', 'conflate', 'drop-newest'] as const)('is never shed by a lossy policy, nor cuts the client off (%s): its range is announced, every seq once, in order', (policy) => {
    const { socket, writer, cuts, a, resume, live, lost, drain } = setup(policy);
    const cut: number[] = [];
    socket.full = true;
    resume(a, 10); // seqs 101..110
    live(a);
    live(a); // 111, 112
    lost(a, 5); // 113..117 unavailable: the notice is held behind the replay
    for (let i = 0; i < 20; i++) live(a); // 118..137: the lane is a whole history behind from 127 on
    lost(a, 3); // 138..140, arriving a whole history behind
    for (let i = 0; i < 10; i++) live(a); // 141..150
    drain();
    for (let turn = 0; turn < 100 && !writer.idle; turn++) {
      writer.uncork();
      writer.continueTurn();
    }
    const frames = socket.written.map((t) => JSON.parse(t) as Record<string, unknown>);
    const seen = new Map<number, number>();
    let at = 0;
    for (const f of frames) {
      const from = f.ev === 'msg' ? Number(f.seq) : Number(f.from);
      const to = f.ev === 'msg' ? from : Number(f.to);
      if (from <= at) cut.push(from);
      at = to;
      for (let seq = from; seq <= to; seq++) seen.set(seq, (seen.get(seq) ?? 0) + 1);
    }
    expect(cut, 'out of order').toEqual([]);
    expect(cuts, 'closed 4100').toEqual([]);
    expect(Array.from({ length: 50 }, (_, i) => 101 + i).filter((seq) => seen.get(seq) !== 1), 'not accounted for once').toEqual([]);
    expect(frames.filter((f) => f.reason === 'unavailable').map((f) => [f.from, f.to])).toEqual([[113, 117], [138, 140]]);
    expect(writer.idle).toBe(true);
  });
});

/** Every frame the socket took, a message as its seq and key, a gap as its reason and range. */
function written(socket: FakeSocket): string[] {
  return socket.written.map((t) => JSON.parse(t) as Record<string, unknown>).map((f) => (f.ev === 'msg' ? `${String(f.seq)}${f.key === undefined ? '' : ` ${String(f.key)}`}` : `${String(f.reason)} ${String(f.from)}-${String(f.to)}`));
}

function settle(writer: OutboundWriter): void {
  for (let turn = 0; turn < 100 && !writer.idle; turn++) {
    writer.uncork();
    writer.continueTurn();
  }
}

describe('ReplayLane: conflate behind a replay', () => {
  it('keeps the newest live message of every key: a busy key replaces its own waiting message, never the rare key\'s only one', () => {
    const { socket, writer, cuts, a, resume, live, drain } = setup('conflate');
    socket.full = true;
    resume(a, 5); // 101..105
    live(a, 'rare'); // 106
    for (let i = 0; i < 30; i++) live(a, 'busy'); // 107..136: more than a history (20) of one key
    live(a); // 137, keyless
    drain();
    settle(writer);
    expect(written(socket)).toEqual(['101', '102', '103', '104', '105', '106 rare', 'conflated 107-135', '136 busy', '137']);
    expect(writer.shed).toMatchObject({ dropped: 0, conflated: 29 });
    expect(cuts).toEqual([]);
    expect(writer.idle).toBe(true);
  });

  it('a key not waiting yet, a whole history behind, sheds the oldest waiting message (dropped), each announced in its place', () => {
    const { socket, writer, a, resume, live, drain } = setup('conflate');
    socket.full = true;
    // 101..116: the socket takes 101 before it reports itself full; 15 wait, room for 5 live messages in a history of 20.
    resume(a, 16);
    for (let k = 0; k < 5; k++) live(a, `k${k}`); // 117..121
    live(a, 'k2'); // 122 replaces 119
    live(a, 'k5'); // 123: a sixth key, the oldest waiting (117) goes
    drain();
    settle(writer);
    expect(written(socket)).toEqual([...Array.from({ length: 16 }, (_, i) => String(101 + i)), 'dropped 117-117', '118 k1', 'conflated 119-119', '120 k3', '121 k4', '122 k2', '123 k5']);
    expect(writer.shed).toMatchObject({ dropped: 1, conflated: 1 });
  });
});

describe('ReplayLane: a large lane', () => {
  it('sheds as many of its oldest live messages as a large one needs, also when that sheds more than a thousand (the lane compacts meanwhile)', () => {
    const { socket, writer, a, resume, live, drain } = setup('drop-oldest', 0, { historySize: 5000, historyMaxBytes: 1500 * 100 });
    socket.full = true;
    resume(a, 2); // 101, 102: the socket takes 101
    for (let i = 0; i < 1400; i++) live(a); // 103..1502, about 100 bytes each
    const big = JSON.stringify('y'.repeat(1200 * 100));
    live(a, undefined, big); // needs about 1200 of them shed
    drain();
    settle(writer);
    const frames = written(socket);
    const gaps = frames.filter((f) => f.startsWith('dropped'));
    expect(gaps).toHaveLength(1);
    const [, from, to] = /^dropped (\d+)-(\d+)$/.exec(gaps[0]!)!.map(Number) as [string, number, number];
    // 101, 102, the gap, the live messages kept, the big one: every live seq once; more than a thousand shed by the big one alone.
    const kept = frames.length - 4;
    expect(from).toBe(103);
    expect(kept).toBeGreaterThan(0);
    expect(to - from + 1).toBeGreaterThan(1100);
    expect(writer.shed.dropped).toBe(to - from + 1);
    expect(to - from + 1 + kept).toBe(1400);
  });
});

describe('ReplayLane: maxAgeMs', () => {
  it('sheds the live messages that waited behind a replay longer than the channel\'s maxAgeMs (expired, in their place); the replay itself is history and arrives whole', () => {
    const { socket, writer, clock, a, resume, live, drain } = setup('drop-oldest', 1000);
    socket.full = true;
    resume(a, 5); // 101..105, published at 0
    for (let i = 0; i < 3; i++) live(a); // 106..108, published at 0
    clock.now = 2000;
    live(a); // 109, published now
    drain();
    for (let turn = 0; turn < 100 && !writer.idle; turn++) {
      writer.uncork();
      writer.continueTurn();
    }
    const frames = socket.written.map((t) => JSON.parse(t) as Record<string, unknown>);
    expect(frames.map((f) => (f.ev === 'msg' ? f.seq : `${String(f.reason)} ${String(f.from)}-${String(f.to)}`))).toEqual([101, 102, 103, 104, 105, 'expired 106-108', 109]);
    expect(writer.shed.expired).toBe(3);
    expect(writer.idle).toBe(true);
  });
});
