import { describe, expect, it } from 'vitest';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { Channel } from '../../src/hub/channel.js';
import { Stats } from '../../src/observability/stats.js';
import type { SlowConsumerPolicy } from '../../src/protocol/policy.js';
import { encodeMessage } from '../../src/protocol/frames.js';
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

function setup(policy: SlowConsumerPolicy) {
  const rules = new ChannelRules(loadConfig({ overrides: { channels: [{ pattern: '*', policy, historySize: HISTORY, historyMaxBytes: 0 }] } }));
  const channels = ['a', 'b'].map((name) => new Channel(name, rules.settingsFor(name)));
  const socket = new FakeSocket();
  const subs = new Map<string, Subscription>();
  const owner: WriterOwner = {
    subscriptionOf: (c) => subs.get(c),
    subscriptions: () => subs.values(),
    slowConsumer: () => {},
    drained: () => {},
    repliesBackedUp: () => false,
    repliesDrained: () => {},
  };
  const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  const seqs = new Map<string, number>();
  const pub = (channel: Channel): Publication => {
    // Three-digit seqs: every message encodes to the same size.
    const seq = (seqs.get(channel.name) ?? 99) + 1;
    seqs.set(channel.name, seq);
    const payload = encodeMessage(channel.name, seq, undefined, PAYLOAD);
    const p = new Publication(channel.name, channel.queuePolicy, '', seq, undefined, undefined, payload, 0);
    p.prepared = payload;
    return p;
  };
  const size = pub(new Channel('a', rules.settingsFor('a'))).bytes;
  // A share of one message per turn.
  const settings = { maxQueueBytes: 1e6, maxQueueMessages: 1000, softQueueBytes: 0, softLimitMs: 0, controlQueueMessages: 16, highWaterMarkBytes: size - 1 };
  const writer = new OutboundWriter({ socket, settings, stats: new Stats(), clock: () => 0, batcher: new TurnBatcher(), pacer: new TurnAllowance(0, () => {}), owner, pools: budget.pools });
  for (const channel of channels) subs.set(channel.name, new Subscription(channel, writer));
  const [a, b] = channels as [Channel, Channel];
  /** A resume of `channel` replaying `n` messages of its history. */
  const resume = (channel: Channel, n = HISTORY) => subs.get(channel.name)!.replay(Array.from({ length: n }, () => pub(channel)));
  const live = (channel: Channel) => subs.get(channel.name)!.deliver(pub(channel));
  /** Data messages the socket took since the last call (gap frames aside). */
  const taken = () => socket.written.splice(0).filter((t) => t.includes('"seq"') && !t.includes('"ev":"gap"')).length;
  const drain = () => {
    socket.full = false;
    socket.room = Infinity;
    writer.onDrain();
  };
  return { socket, writer, subs, a, b, resume, live, taken, drain };
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
