import { describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

describe.each(TRANSPORTS)('history and resume [%s]', (transport) => {
  let gw: TestGateway;
  const h = gatewayHarness(transport);
  const connect = h.connect;

  it('replays exactly what was missed, then live messages, with no gap and no duplicate', async () => {
    gw = await h.start({ channels: [{ pattern: 'chat.*', policy: 'disconnect', historySize: 1000 }] });
    const publisher = await connect();
    const first = await connect();
    const ack = await first.subscribe('chat.room1');
    expect(ack).toMatchObject({ seq: 0 });
    for (let i = 1; i <= 40; i++) publisher.send({ op: 'pub', ch: 'chat.room1', data: i });
    await first.waitForCount((f) => f.ev === 'msg', 40);
    const lastSeen = 25; // pretend the client processed only up to 25 before it dropped
    first.terminate();
    for (let i = 41; i <= 60; i++) publisher.send({ op: 'pub', ch: 'chat.room1', data: i });
    await publisher.request({ op: 'ping' });

    const again = await connect();
    // Live publishing continues while the client resumes.
    const resumed = again.request({ op: 'sub', ch: 'chat.room1', since: { epoch: ack.epoch, seq: lastSeen } });
    for (let i = 61; i <= 80; i++) publisher.send({ op: 'pub', ch: 'chat.room1', data: i });
    expect(await resumed).toMatchObject({ ev: 'ack', recovered: true, epoch: ack.epoch });
    const msgs = await again.waitForCount((f) => f.ev === 'msg', 80 - lastSeen);
    expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: 80 - lastSeen }, (_, i) => lastSeen + 1 + i));
    expect(msgs.map((m) => m.data)).toEqual(msgs.map((m) => m.seq));
  });

  it('resumes after a slow-consumer disconnect even when the replay is far larger than the queue', async () => {
    gw = await h.start(
      {
        inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
        outbound: { maxQueueBytes: 64 * 1024, maxQueueMessages: 64, softQueueBytes: 0, highWaterMarkBytes: 16 * 1024 },
        channels: [{ pattern: 'chat.*', policy: 'disconnect', historySize: 5000, historyMaxBytes: 0 }],
      });
    const publisher = await connect();
    const slow = await connect();
    const ack = await slow.subscribe('chat.big');
    slow.tcp.pause();
    const total = 3000;
    const pad = 'r'.repeat(4000);
    for (let i = 1; i <= total; i++) publisher.send({ op: 'pub', ch: 'chat.big', data: { i, pad } });
    await publisher.request({ op: 'ping' });
    slow.tcp.resume();
    expect(await slow.closed()).toBe(4100);
    const seen = slow.messages('chat.big').map((m) => m.seq as number);
    const lastSeen = seen.length > 0 ? seen[seen.length - 1]! : 0;
    expect(total - lastSeen).toBeGreaterThan(64); // the replay is larger than the whole queue

    const again = await connect();
    const reply = again.request({ op: 'sub', ch: 'chat.big', since: { epoch: ack.epoch, seq: lastSeen } });
    // Publishing goes on at full speed while the replay drains: more than the queue holds.
    const more = 1000;
    for (let i = 1; i <= more; i++) publisher.send({ op: 'pub', ch: 'chat.big', data: { i: total + i, pad } });
    expect(await reply).toMatchObject({ ev: 'ack', recovered: true });
    const expected = total + more - lastSeen;
    const msgs = await again.waitForCount((f) => f.ev === 'msg', expected, 30_000);
    expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: expected }, (_, i) => lastSeen + 1 + i));
    expect(again.closeCode).toBeUndefined();
  });

  it('answers recovered:false when the position is older than the history', async () => {
    gw = await h.start({ channels: [{ pattern: 'chat.*', historySize: 10 }] });
    const publisher = await connect();
    const sub = await connect();
    const ack = await sub.subscribe('chat.small');
    for (let i = 0; i < 30; i++) await publisher.request({ op: 'pub', ch: 'chat.small', data: i });
    await sub.request({ op: 'unsub', ch: 'chat.small' });
    const tooOld = await sub.request({ op: 'sub', ch: 'chat.small', since: { epoch: ack.epoch, seq: 5 } });
    expect(tooOld).toMatchObject({ ev: 'ack', recovered: false, seq: 30 });
    await sub.request({ op: 'unsub', ch: 'chat.small' });
    const recent = await sub.request({ op: 'sub', ch: 'chat.small', since: { epoch: ack.epoch, seq: 20 } });
    expect(recent).toMatchObject({ recovered: true, seq: 30 });
    await sub.until(() => sub.messages('chat.small').some((m) => m.seq === 30));
    expect(sub.messages('chat.small').slice(-10).map((m) => m.seq)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
  });

  it('answers recovered:false for another epoch (history lost) and for a future seq', async () => {
    gw = await h.start({});
    const sub = await connect();
    const ack = await sub.subscribe('chat.e');
    await sub.request({ op: 'unsub', ch: 'chat.e' });
    expect(await sub.request({ op: 'sub', ch: 'chat.e', since: { epoch: 'not-the-epoch', seq: 0 } })).toMatchObject({ recovered: false });
    await sub.request({ op: 'unsub', ch: 'chat.e' });
    // Same epoch (the channel is still active), a seq it never reached: refused for that alone.
    expect(await sub.request({ op: 'sub', ch: 'chat.e', since: { epoch: ack.epoch, seq: 99 } })).toMatchObject({ recovered: false, epoch: ack.epoch, seq: 0 });
  });

  it('forgets history after its TTL', async () => {
    gw = await h.start({ channels: [{ pattern: 'ttl.*', historySize: 100, historyTtlMs: 1 }] });
    const pub = await connect();
    const sub = await connect();
    const ack = await sub.subscribe('ttl.a');
    await pub.request({ op: 'pub', ch: 'ttl.a', data: 1 });
    await sub.next((f) => f.ev === 'msg');
    await sub.request({ op: 'unsub', ch: 'ttl.a' });
    await new Promise((r) => setTimeout(r, 10));
    expect(await sub.request({ op: 'sub', ch: 'ttl.a', since: { epoch: ack.epoch, seq: 0 } })).toMatchObject({ recovered: false });
  });
});
