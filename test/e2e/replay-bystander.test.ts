import { describe, expect, it } from 'vitest';
import { nodesHarness } from '../helpers/harness.js';
import { account } from '../helpers/seq-account.js';
import { TRANSPORTS } from '../helpers/transports.js';

const PAD = 'p'.repeat(4000);
const HISTORY = 2000;
const INBOUND = { messagesPerSecond: 0, bytesPerSecond: 0 };
/** A replay paced at 16 KiB per turn (8 MB of history: hundreds of turns), and a queue of 64 messages for the other channels. */
const OUTBOUND = { highWaterMarkBytes: 16 * 1024, replayBytesPerTurn: 16 * 1024, maxQueueMessages: 64, maxQueueBytes: 1024 * 1024, softQueueBytes: 0 };

/**
 * A connection's other channels while one of its channels replays a long history: their messages
 * do not wait in the queue for the replay to end (on a lossless channel that cut off a client that
 * read everything, 4100 after 64 messages: "45 replayed, 0 of 120 other" before the fix).
 */
describe.each(TRANSPORTS)('a replay and the connection\'s other channels [%s]', (transport) => {
  const h = nodesHarness(transport, 'memory');
  const connect = h.connectTo;

  it('a reading client resuming a long history keeps receiving its other channels, never 4100', async () => {
    const channels = [{ pattern: '*', policy: 'disconnect' as const, historySize: HISTORY, historyMaxBytes: 0 }];
    await h.start({ outbound: OUTBOUND, inbound: INBOUND, channels });
    const url = h.nextUrl();
    const publisher = await connect(url);
    const first = await connect(url);
    const epoch = String((await first.subscribe('feed.long')).epoch);
    first.terminate();
    for (let i = 0; i < HISTORY; i += 50) {
      for (let k = 1; k < 50; k++) publisher.send({ op: 'pub', ch: 'feed.long', data: PAD });
      await publisher.request({ op: 'pub', ch: 'feed.long', data: PAD });
    }
    const client = await connect(url);
    await client.subscribe('feed.other');
    const ack = await client.request({ op: 'sub', ch: 'feed.long', since: { epoch, seq: 0 } });
    expect(ack).toMatchObject({ ev: 'ack', recovered: true });
    // 400 messages of the other channel while the replay is under way.
    let last = 0;
    for (let round = 0; round < 20 && client.closeCode === undefined; round++) {
      for (let k = 1; k < 20; k++) publisher.send({ op: 'pub', ch: 'feed.other', data: 'x' });
      last = Number((await publisher.request({ op: 'pub', ch: 'feed.other', data: 'x' })).seq);
    }
    await client.until(() => client.closeCode !== undefined || (client.messages('feed.long').length >= HISTORY && client.messages('feed.other').length >= last), 30_000, 'everything');
    expect(client.closeCode, `${client.closeReason}: ${client.messages('feed.long').length} replayed, ${client.messages('feed.other').length} of ${last} other`).toBeUndefined();
    expect(account(client, 'feed.other', last).wrong).toEqual([]);
    expect(account(client, 'feed.long', HISTORY)).toMatchObject({ order: true, wrong: [] });
    // The other channel's messages were not held until the replay's end.
    const frames = client.frames.filter((f) => f.ev === 'msg');
    const lastReplayed = frames.findIndex((f) => f.ch === 'feed.long' && f.seq === HISTORY);
    expect(frames.slice(0, lastReplayed).some((f) => f.ch === 'feed.other')).toBe(true);
  });
});
