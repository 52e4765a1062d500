import { describe, expect, it } from 'vitest';
import { nodesHarness } from '../helpers/harness.js';
import { account } from '../helpers/seq-account.js';
import { TRANSPORTS } from '../helpers/transports.js';

const PAD = 'p'.repeat(4000);
const HISTORY = 600;
/**
 * A client that unsubscribes in the middle of a paced replay while the publisher goes on, and
 * subscribes again from the last seq it accounted for, three times: over all its subscriptions every
 * seq arrives once, as a message or inside a gap, in order, and it is never closed, on every policy.
 */
describe.each(TRANSPORTS)('resubscribing in the middle of a replay while live publishing [%s]', (transport) => {
  const h = nodesHarness(transport, 'memory');
  it.each(['disconnect', 'drop-oldest', 'conflate', 'drop-newest'] as const)('%s: every seq once, in order, across the subscriptions', async (policy) => {
    const channels = [{ pattern: '*', policy, historySize: HISTORY, historyMaxBytes: 0 }];
    await h.start({ outbound: { highWaterMarkBytes: 16 * 1024, replayBytesPerTurn: 16 * 1024 }, inbound: { messagesPerSecond: 0, bytesPerSecond: 0 }, channels });
    const url = h.nextUrl();
    const publisher = await h.connectTo(url);
    const first = await h.connectTo(url);
    const epoch = String((await first.subscribe('feed.long')).epoch);
    first.terminate();
    for (let i = 0; i < HISTORY; i += 50) {
      for (let k = 1; k < 50; k++) publisher.send({ op: 'pub', ch: 'feed.long', data: PAD });
      await publisher.request({ op: 'pub', ch: 'feed.long', data: PAD });
    }
    const client = await h.connectTo(url);
    await client.request({ op: 'sub', ch: 'feed.long', since: { epoch, seq: 0 } });
    let last = HISTORY;
    /** The last seq the client accounted for: its latest message, or the end of its latest gap. */
    const reached = (): number => {
      const f = client.frames.filter((x) => x.ch === 'feed.long' && (x.ev === 'msg' || x.ev === 'gap')).at(-1);
      return f === undefined ? 0 : f.ev === 'msg' ? Number(f.seq) : Number(f.to);
    };
    for (let round = 0; round < 3; round++) {
      await client.until(() => reached() > 30 * (round + 1), 10_000, 'some replayed');
      for (let k = 0; k < 30; k++) publisher.send({ op: 'pub', ch: 'feed.long', data: PAD });
      last = Number((await publisher.request({ op: 'pub', ch: 'feed.long', data: PAD })).seq);
      await client.request({ op: 'unsub', ch: 'feed.long' });
      await client.request({ op: 'sub', ch: 'feed.long', since: { epoch, seq: reached() } });
    }
    await client.until(() => client.closeCode !== undefined || reached() >= last, 30_000, 'everything');
    expect(client.closeCode).toBeUndefined();
    expect(account(client, 'feed.long', last)).toMatchObject({ order: true, wrong: [] });
  });
});
