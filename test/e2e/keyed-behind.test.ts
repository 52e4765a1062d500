import { describe, expect, it } from 'vitest';
import type { Frame, TestClient } from '../helpers/client.js';
import { nodesHarness } from '../helpers/harness.js';
import { account } from '../helpers/seq-account.js';
import { TRANSPORTS } from '../helpers/transports.js';

const KEYS = 30;
const HISTORY = 20;
/** Live messages published while the subscriber's snapshot waits: more than the lane holds behind it (HISTORY + KEYS). */
const LIVE = 150;
const INBOUND = { messagesPerSecond: 0, bytesPerSecond: 0 };
const OUTBOUND = { maxQueueBytes: 64 * 1024, maxQueueMessages: 64, softQueueBytes: 0 };
const BALLAST = 'b'.repeat(4000);

/** The subscriber's view: the snapshot's entries, then every message after it applied in order. */
function view(client: TestClient, ch: string): Map<string, unknown> {
  const values = new Map<string, unknown>();
  for (const f of client.frames) {
    if (f.ch !== ch) continue;
    const msgs = f.ev === 'snap' ? (f.msgs as Frame[]) : f.ev === 'msg' ? [f] : [];
    for (const m of msgs) values.set(String(m.key), m.data);
  }
  return values;
}

/**
 * docs/keyed.md, "Delivery of a snapshot": a subscriber that takes a snapshot and does not read
 * while live messages arrive has at most max(1, historySize) + keys of them wait behind it; past
 * that its channel's policy acts on those live messages only (conflate replaces a key's waiting
 * message at any depth, so one per key waits). The snapshot arrives whole and first (never shed),
 * then the live messages in seq order, every seq after the snapshot's once as a message or inside a
 * gap in its place; drop-oldest and conflate keep the newest (so the view is the publisher's
 * state), drop-newest the first; a `disconnect` channel closes 4100 and a resume lands on a
 * snapshot again.
 */
describe.each(TRANSPORTS)('a keyed snapshot whose subscriber falls behind [%s]', (transport) => {
  const h = nodesHarness(transport, 'memory');
  const connect = h.connectTo;

  it.each(['drop-oldest', 'conflate', 'drop-newest', 'disconnect'] as const)('%s', async (policy) => {
    const channels = [
      { pattern: 'px.*', keyed: true, policy, historySize: HISTORY, historyMaxBytes: 0, snapshotChunkBytes: 1024 },
      { pattern: 'fill.*', policy: 'drop-oldest' as const, historySize: 0 },
    ];
    await h.start({ outbound: OUTBOUND, inbound: INBOUND, channels });
    const ch = 'px.book';
    const url = h.nextUrl();
    const gateway = h.lastNode().gateway;
    const publisher = await connect(url);
    const truth = new Map<string, unknown>();
    let i = 0;
    /** `n` publications, one key after another; resolves with the last one's ack (the only one with an id). */
    const publish = async (n: number): Promise<Frame> => {
      for (let k = 1; k < n; k++) publisher.send(pub());
      return publisher.request(pub());
    };
    const pub = () => {
      i++;
      const key = `k${i % KEYS}`;
      truth.set(key, { i });
      return { op: 'pub', ch, key, data: { i } };
    };
    const before = Number((await publish(2 * KEYS)).seq);

    const subscriber = await connect(url);
    await subscriber.subscribe('fill.up');
    subscriber.tcp.pause();
    for (let round = 0; round < 500 && gateway.stats.shed.dropped === 0; round++) {
      for (let k = 0; k < 7; k++) publisher.send({ op: 'pub', ch: 'fill.up', data: BALLAST });
      await publisher.request({ op: 'pub', ch: 'fill.up', data: BALLAST });
    }
    expect(gateway.stats.shed.dropped).toBeGreaterThan(0);
    subscriber.send({ op: 'sub', ch, snapshot: true, id: 'snap' });
    // The ack is written after the snapshot is taken: the publications after this one's ack are live for it.
    await publisher.request({ op: 'ping' });
    const last = Number((await publish(LIVE)).seq);
    subscriber.tcp.resume();

    if (policy === 'disconnect') {
      expect(await subscriber.closed()).toBe(4100);
      // Its resume from where it stood lies outside history: it lands on a snapshot of the state.
      const again = await connect(url);
      const epoch = String((await publisher.subscribe(ch)).epoch);
      const ack = await again.request({ op: 'sub', ch, snapshot: true, since: { epoch, seq: before } });
      expect(ack).toMatchObject({ ev: 'ack', recovered: 'snapshot', seq: last });
      await again.next((f) => f.ev === 'snap' && f.ch === ch && f.last === true);
      expect(view(again, ch)).toEqual(truth);
      return;
    }
    const reached = (f: Frame) => f.ch === ch && Number(f.ev === 'msg' ? f.seq : f.ev === 'gap' ? f.to : 0) >= last;
    await subscriber.until(() => subscriber.closeCode !== undefined || subscriber.frames.some(reached), 30_000, `seq ${last}`);
    expect(subscriber.closeCode).toBeUndefined();
    const ack = subscriber.frames.find((f) => f.id === 'snap')!;
    expect(ack).toMatchObject({ ev: 'ack', snapshot: true });
    const at = Number(ack.seq);
    expect(at).toBeGreaterThanOrEqual(before);

    // The snapshot whole and first: every key, each at a seq <= the ack's, its last chunk before any live message.
    const ours = subscriber.frames.filter((f) => f.ch === ch && f.ev !== 'ack');
    const lastChunk = ours.findIndex((f) => f.ev === 'snap' && f.last === true);
    expect(ours.slice(0, lastChunk + 1).every((f) => f.ev === 'snap')).toBe(true);
    const entries = ours.filter((f) => f.ev === 'snap').flatMap((f) => f.msgs as Frame[]);
    expect(new Set(entries.map((m) => m.key)).size).toBe(KEYS);
    expect(entries.every((m) => Number(m.seq) <= at)).toBe(true);

    // Then every seq after the snapshot's once, in order: as a message, or inside one gap in its place.
    const { order, wrong, gaps } = account(subscriber, ch, last, at + 1);
    expect({ order, wrong: wrong.slice(0, 5) }).toEqual({ order: true, wrong: [] });
    // conflate keeps one message per key waiting (each replaced by the next of its key), so never a whole history's worth.
    expect(gaps.map((g) => g.reason)).toEqual([policy === 'conflate' ? 'conflated' : 'dropped']);
    const kept = subscriber.messages(ch).map((m) => Number(m.seq));
    const held = policy === 'conflate' ? KEYS : HISTORY + KEYS;
    const first = policy === 'drop-newest' ? at + 1 : last - held + 1;
    expect(kept).toEqual(Array.from({ length: held }, (_, k) => first + k));
    // Keeping the newest (each key among them), the view is the publisher's state.
    if (policy !== 'drop-newest') expect(view(subscriber, ch)).toEqual(truth);
  });
});
