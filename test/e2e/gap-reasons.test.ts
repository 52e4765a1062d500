import { describe, expect, it } from 'vitest';
import type { Frame } from '../helpers/client.js';
import { fillSocket } from '../helpers/fill.js';
import { gatewayHarness } from '../helpers/harness.js';
import { TRANSPORTS } from '../helpers/transports.js';

const BALLAST = 'b'.repeat(60_000);

/**
 * docs/protocol.md, gap reasons: `conflated` says a newer message of the same key replaced the
 * one shed. A run that also holds a message shed without a newer one of its key (the queue full,
 * the oldest of a conflate channel dropped) is `dropped`: the client must not take that key's
 * value for superseded.
 */
describe.each(TRANSPORTS)('the reason of a gap that merges several [%s]', (transport) => {
  const h = gatewayHarness(transport);

  it('a key\'s only message dropped next to one conflated: the run is `dropped`', async () => {
    const gw = await h.start({
      inbound: { messagesPerSecond: 0, bytesPerSecond: 0 },
      outbound: { maxQueueBytes: 32 * 1024, maxQueueMessages: 4, softQueueBytes: 0 },
      channels: [
        { pattern: 'px.*', policy: 'conflate', historySize: 0 },
        { pattern: 'ballast.*', policy: 'drop-oldest', historySize: 0 },
      ],
    });
    const sub = await h.connect();
    await sub.subscribe('px.a');
    await sub.subscribe('ballast.b');
    const publisher = await h.connect();
    sub.tcp.pause();
    const conn = gw.gateway.connectionList().find((c) => c.subscriptionOf('ballast.b') !== undefined)!.id;
    expect(await fillSocket(gw, conn, () => Promise.all(Array.from({ length: 8 }, () => publisher.request({ op: 'pub', ch: 'ballast.b', data: BALLAST }))))).toBe(true);
    // A..D fill the queue (4 messages); E drops the oldest, A (seq 1), whose key has nothing newer; B's second replaces B's first (seq 2).
    let last = 0;
    for (const key of ['A', 'B', 'C', 'D', 'E', 'B']) last = Number((await publisher.request({ op: 'pub', ch: 'px.a', key, data: key })).seq);
    sub.tcp.resume();
    const reached = (f: Frame) => f.ch === 'px.a' && Number(f.ev === 'msg' ? f.seq : f.ev === 'gap' ? f.to : 0) >= last;
    await sub.until(() => sub.frames.some(reached), 10_000, `seq ${last}`);
    const ours = sub.frames.filter((f) => f.ch === 'px.a' && (f.ev === 'msg' || f.ev === 'gap'));
    expect(ours.map((f) => (f.ev === 'msg' ? `${String(f.seq)} ${String(f.key)}` : `${String(f.reason)} ${String(f.from)}-${String(f.to)}`))).toEqual(['dropped 1-2', '3 C', '4 D', '5 E', '6 B']);
  });
});
