import { MemoryBudget } from '../../src/util/memory-budget.js';
import { describe, expect, it } from 'vitest';
import { ChannelRules } from '../../src/config/channel-rules.js';
import { loadConfig } from '../../src/config/load.js';
import { Channel } from '../../src/hub/channel.js';
import { Publication } from '../../src/stream/publication.js';
import { Stats } from '../../src/observability/stats.js';
import { encodeMessage } from '../../src/protocol/frames.js';
import { encodeOccupancy, encodePresenceEvents } from '../../src/protocol/presence-frames.js';
import { presenceFrame } from '../../src/presence/presence-frame.js';
import { OutboundWriter, type WriterOwner } from '../../src/session/outbound-writer.js';
import { Subscription } from '../../src/session/subscription.js';
import { TurnAllowance } from '../../src/session/turn-allowance.js';
import { WriteBatcher } from '../../src/session/write-batcher.js';
import { FakeSocket } from '../helpers/fake-socket.js';

function setup(policy: 'drop-oldest' | 'drop-newest' | 'disconnect' | 'conflate', limits = { maxQueueBytes: 10_000, maxQueueMessages: 3, softQueueBytes: 0, softLimitMs: 0 }, controlLimit = 4, readingPausable = false) {
  const rules = new ChannelRules(loadConfig({ overrides: { channels: [{ pattern: '*', policy, historySize: 10_000 }] } }));
  const channel = new Channel('ch', rules.settingsFor('ch'));
  const socket = new FakeSocket();
  const events = { slow: 0, drained: 0, repliesBackedUp: 0, repliesDrained: 0 };
  let sub: Subscription | undefined;
  const owner: WriterOwner = {
    subscriptionOf: (c) => (c === channel.name ? sub : undefined),
    subscriptions: () => (sub ? [sub] : []),
    slowConsumer: () => void events.slow++,
    drained: () => void events.drained++,
    repliesBackedUp: () => {
      events.repliesBackedUp++;
      return readingPausable;
    },
    repliesDrained: () => void events.repliesDrained++,
  };
  const stats = new Stats();
  const budget = new MemoryBudget(0, { now: () => 0, later: () => {} });
  const writer = new OutboundWriter({ socket, settings: { ...limits, controlQueueMessages: controlLimit, highWaterMarkBytes: 1e9, minReceiveWindowBytes: 1024, maxReceiveWindowBytes: 1e9 }, stats, clock: () => 0, batcher: new WriteBatcher(), pacer: new TurnAllowance(0), owner, pools: budget.pools });
  sub = new Subscription(channel, writer);
  let seq = 0;
  const publish = (key?: string) => {
    seq++;
    const conflationKey = policy === 'conflate' && key ? `ch\0${key}` : undefined;
    const payload = encodeMessage('ch', seq, key, String(seq));
    const pub = new Publication('ch', channel.queuePolicy, '', seq, key, conflationKey, payload, 0);
    pub.prepared = payload;
    sub!.deliver(pub);
  };
  const frames = () => socket.written.map((t) => JSON.parse(t) as Record<string, unknown>);
  const replay = (from: number, to: number) => {
    const pubs = [];
    for (let s = from; s <= to; s++) {
      const payload = encodeMessage('ch', s, undefined, String(s));
      const pub = new Publication('ch', channel.queuePolicy, '', s, undefined, undefined, payload, 0);
      pub.prepared = payload;
      pubs.push(pub);
    }
    seq = to;
    sub!.replay(pubs);
  };
  return { socket, writer, events, publish, frames, stats, replay, sub: () => sub! };
}

describe('OutboundWriter', () => {
  it('writes straight through while the socket keeps up', () => {
    const { socket, writer, publish, frames } = setup('drop-oldest');
    publish();
    publish();
    expect(frames().map((f) => f.seq)).toEqual([1, 2]);
    expect(writer.queuedMessages).toBe(0);
    expect(socket.corks).toBe(1); // one cork for the whole loop turn
  });

  it('queues once the socket reports backpressure and flushes on drain, control first', () => {
    const { socket, writer, publish, frames } = setup('drop-oldest');
    socket.full = true;
    publish(); // written, and now the socket is full
    publish();
    publish();
    writer.sendControl('{"ev":"ack","id":7}');
    expect(frames().map((f) => f.seq ?? f.ev)).toEqual([1]);
    expect(writer.queuedMessages).toBe(2);
    socket.full = false;
    writer.onDrain();
    expect(frames().map((f) => f.seq ?? f.ev)).toEqual([1, 'ack', 2, 3]);
  });

  it('announces shed messages with one gap frame, just before the next message of the channel', () => {
    const { socket, writer, publish, frames } = setup('drop-oldest');
    socket.full = true;
    publish(); // written
    for (let i = 0; i < 6; i++) publish(); // 2..7 queued; 2, 3, 4 shed to keep 3
    socket.full = false;
    writer.onDrain();
    expect(frames()).toEqual([
      expect.objectContaining({ ev: 'msg', seq: 1 }),
      { ev: 'gap', ch: 'ch', from: 2, to: 4, n: 3, reason: 'dropped' },
      expect.objectContaining({ ev: 'msg', seq: 5 }),
      expect.objectContaining({ ev: 'msg', seq: 6 }),
      expect.objectContaining({ ev: 'msg', seq: 7 }),
    ]);
  });

  it('reports a pending gap before a message that bypasses the queue', () => {
    const { socket, writer, publish, frames } = setup('conflate');
    socket.full = true;
    publish('a'); // written
    publish('a'); // queued
    publish('a'); // replaces 2
    socket.full = false;
    writer.onDrain();
    publish('a');
    expect(frames().map((f) => (f.ev === 'gap' ? `gap ${f.from}-${f.to} ${f.reason}` : f.seq))).toEqual([1, 'gap 2-2 conflated', 3, 4]);
  });

  it('drop-newest: the gap for the shed newest messages follows the older ones still queued', () => {
    const { socket, writer, publish, frames } = setup('drop-newest');
    socket.full = true;
    publish(); // written
    for (let i = 0; i < 5; i++) publish(); // 2, 3, 4 queued; 5 and 6 shed on arrival
    socket.full = false;
    writer.onDrain();
    publish();
    expect(frames().map((f) => (f.ev === 'gap' ? `gap ${f.from}-${f.to}` : f.seq))).toEqual([1, 2, 3, 4, 'gap 5-6', 7]);
  });

  it('conflate: a message replaced in the middle of the queue is announced between its neighbours', () => {
    const { socket, writer, publish, frames } = setup('conflate');
    socket.full = true;
    publish('a'); // 1 written
    publish('a'); // 2 queued
    publish('b'); // 3 queued
    publish('b'); // 4 replaces 3
    socket.full = false;
    writer.onDrain();
    expect(frames().map((f) => (f.ev === 'gap' ? `gap ${f.from}-${f.to} ${f.reason}` : f.seq))).toEqual([1, 2, 'gap 3-3 conflated', 4]);
  });

  it('a subscription that ends takes its queued messages and its unannounced gap with it', () => {
    const { socket, writer, publish, frames, sub } = setup('drop-oldest');
    socket.full = true;
    publish(); // written
    for (let i = 0; i < 5; i++) publish(); // 2, 3 shed; 4, 5, 6 queued
    writer.forget(sub());
    expect(writer.queuedMessages).toBe(0);
    socket.full = false;
    writer.onDrain();
    expect(frames().map((f) => f.seq)).toEqual([1]);
  });

  it('asks for a disconnect when a lossless channel overflows, and writes nothing after', () => {
    const { socket, writer, publish, events, frames } = setup('disconnect');
    socket.full = true;
    for (let i = 0; i < 5; i++) publish();
    expect(events.slow).toBe(1);
    writer.discard();
    socket.full = false;
    writer.onDrain();
    publish();
    expect(frames().map((f) => f.seq)).toEqual([1]);
  });

  it('asks for a disconnect when replies pile up past the control lane', () => {
    const { socket, writer, events } = setup('drop-oldest');
    socket.full = true;
    for (let i = 0; i < 6; i++) writer.sendControl(`{"ev":"pong","id":${i}}`);
    expect(events.slow).toBe(1);
  });

  it('with an owner that stops reading, replies past the control lane wait for the client instead', () => {
    const { socket, writer, events, frames } = setup('drop-oldest', undefined, 4, true);
    socket.full = true;
    for (let i = 0; i < 10; i++) writer.sendControl(`{"ev":"pong","id":${i}}`); // the first is written, then the socket is full
    expect(events).toMatchObject({ slow: 0, repliesBackedUp: 1, repliesDrained: 0 });
    socket.full = false;
    writer.onDrain();
    expect(events).toMatchObject({ slow: 0, repliesBackedUp: 1, repliesDrained: 1 });
    expect(frames().map((f) => f.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('answers pings at once, and while the socket is backed up owes only the latest, written first on drain; one more ping stops reading', () => {
    const { socket, writer, events, publish } = setup('drop-oldest', undefined, 4, true);
    writer.sendPong(Buffer.from('a'));
    expect(socket.written).toEqual(['pong a']);
    socket.full = true;
    publish(); // the socket reports itself full: the writer is blocked
    writer.sendPong(Buffer.from('b'));
    expect(events.repliesBackedUp).toBe(0);
    for (let i = 0; i < 100; i++) writer.sendPong(Buffer.from(`c${i}`));
    expect(events.repliesBackedUp).toBe(1);
    expect(socket.written).toHaveLength(2);
    socket.full = false;
    writer.onDrain();
    expect(socket.written.slice(2)).toEqual(['pong c99']);
    expect(events.repliesDrained).toBe(1);
  });

  it('writes a resume replay outside the queue limits, ahead of later messages', () => {
    const { socket, writer, publish, replay, frames, events } = setup('disconnect');
    socket.full = true;
    publish(); // written; socket now full
    replay(2, 50); // 49 messages: far more than the queue's 3
    publish(); // live message after the replay
    expect(events.slow).toBe(0);
    socket.full = false;
    writer.onDrain();
    expect(frames().map((f) => f.seq)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
  });

  it('keeps a long replay interleaved with live messages in order while the socket drains bit by bit', () => {
    const { socket, writer, publish, replay, frames, events } = setup('disconnect');
    socket.full = true;
    publish(); // seq 1 written; socket full
    replay(2, 3000);
    for (let drains = 0; drains < 100 && writer.idle === false; drains++) {
      socket.full = false;
      socket.room = 100;
      writer.onDrain();
      publish(); // live messages keep arriving while the replay drains
    }
    socket.full = false;
    socket.room = Infinity;
    writer.onDrain();
    expect(events.slow).toBe(0);
    const seqs = frames().map((f) => f.seq as number);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(seqs.length).toBeGreaterThan(3000);
  });

  it('tells its owner when everything queued has been written', () => {
    const { socket, writer, publish, events } = setup('drop-oldest');
    socket.full = true;
    publish();
    publish();
    socket.full = false;
    writer.onDrain();
    expect(events.drained).toBe(1);
    expect(writer.idle).toBe(true);
  });
});

describe('OutboundWriter: presence frames', () => {
  const frame = (kind: 'events' | 'occupancy', n: number) => {
    const pub = presenceFrame(kind, 'ch', kind === 'events' ? encodePresenceEvents('ch', [{ id: `u${n}`, conns: 1, info: undefined }], []) : encodeOccupancy('ch', n), 0);
    pub.prepared = pub.encoded;
    return pub;
  };

  it('queue behind a blocked socket within its bounds, never shed the channel\'s data, and owe a resync once event frames were shed', () => {
    const { socket, writer, publish, frames, sub } = setup('disconnect', { maxQueueBytes: 10_000, maxQueueMessages: 4, softQueueBytes: 0, softLimitMs: 0 });
    socket.full = true;
    publish(); // written; the socket is now full
    publish();
    publish();
    for (let i = 1; i <= 3; i++) sub().deliverPresence(frame('events', i));
    sub().deliverPresence(frame('occupancy', 5));
    sub().deliverPresence(frame('occupancy', 6)); // conflates the previous count
    expect(writer.queuedMessages).toBeLessThanOrEqual(4);
    socket.full = false;
    writer.onDrain();
    const written = frames();
    // Every data message arrived; the oldest event frames made room, so a resync follows them.
    expect(written.filter((f) => f.ev === 'msg').map((f) => f.seq)).toEqual([1, 2, 3]);
    expect(written.filter((f) => f.ev === 'occupancy').map((f) => f.total)).toEqual([6]);
    expect(written[written.length - 1]).toEqual({ ev: 'presence', ch: 'ch', resync: true });
    expect(written.filter((f) => f.ev === 'gap')).toEqual([]);
  });

  it('write at once while the socket keeps up, and leave with the subscription', () => {
    const { socket, writer, frames, sub } = setup('drop-oldest');
    sub().deliverPresence(frame('events', 1));
    expect(frames()).toEqual([{ ev: 'presence', ch: 'ch', join: [{ id: 'u1' }], leave: [] }]);
    socket.full = true;
    sub().deliverPresence(frame('events', 2));
    sub().deliverPresence(frame('events', 3));
    writer.forget(sub());
    expect(writer.queuedMessages).toBe(0);
  });
});
