import fc from 'fast-check';
import { applyDelta } from 'fossil-delta';
import { describe, expect, it } from 'vitest';
import { DeltaBases } from '../../src/hub/delta-bases.js';
import { encodeMessage } from '../../src/protocol/frames.js';
import { DeltaTracker } from '../../src/session/delta-tracker.js';
import { dataOf } from '../../src/stream/delta.js';
import { Publication } from '../../src/stream/publication.js';
import { unmeteredPool } from '../../src/util/memory-budget.js';

const POLICY = { policy: 'conflate', maxAgeMs: 0 } as const;

/** A value of ~600 bytes that changes a little with `v`, so its delta is much smaller than it. */
const value = (key: string, v: number) => JSON.stringify({ key, v, rows: Array.from({ length: 40 }, (_, i) => [i, i === v % 40 ? v : i * 3]) });

function stream(maxKeys = 0) {
  const pool = unmeteredPool('keyed');
  const bases = new DeltaBases(maxKeys, pool, (payload) => payload);
  let seq = 0;
  let epoch = 'E0';
  return {
    pool,
    bases,
    newEpoch(): void {
      epoch = `E${Number(epoch.slice(1)) + 1}`;
      seq = 0;
    },
    publish(key: string, v: number, del = false): Publication {
      seq++;
      const raw = del ? 'null' : value(key, v);
      const pub = new Publication('c', POLICY, epoch, seq, key, undefined, encodeMessage('c', seq, key, raw, del), 0, del);
      bases.note(pub, true);
      return pub;
    },
  };
}

const event = fc.oneof(
  fc.record({ kind: fc.constant('pub' as const), key: fc.integer({ min: 0, max: 3 }), v: fc.nat(1000), written: fc.boolean() }),
  fc.record({ kind: fc.constant('del' as const), key: fc.integer({ min: 0, max: 3 }), written: fc.boolean() }),
  fc.record({ kind: fc.constant('epoch' as const) }),
);

describe('delta choice: a subscriber gets a delta exactly when it holds its base', () => {
  it('holds for any stream of changes, deletes and new epochs, with any messages not written (shed, paced away)', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 80 }), (events) => {
        const s = stream();
        const tracker = new DeltaTracker(unmeteredPool('keyed'));
        /** What the client holds per key: the seq and exact text of the last value written to it. */
        const client = new Map<string, { seq: number; text: string }>();
        for (const e of events) {
          if (e.kind === 'epoch') {
            s.newEpoch();
            continue;
          }
          const key = `k${e.key}`;
          const pub = e.kind === 'del' ? s.publish(key, 0, true) : s.publish(key, e.v);
          if (!e.written) continue;
          const frame = tracker.choose(pub);
          const held = client.get(`${pub.epoch}|${key}`);
          if (pub.del) {
            expect(frame).toBeUndefined();
            client.delete(`${pub.epoch}|${key}`);
            continue;
          }
          // A delta exactly when the client holds the value it applies to.
          expect(frame !== undefined).toBe(pub.delta !== undefined && held?.seq === pub.delta.base);
          const text = frame === undefined ? dataOf(pub).toString() : Buffer.from(applyDelta(Buffer.from(held!.text), Buffer.from(frame.encoded.toString().match(/"delta":"([^"]*)"/)![1]!, 'base64'))).toString();
          expect(text).toBe(dataOf(pub).toString());
          client.set(`${pub.epoch}|${key}`, { seq: pub.seq, text });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('after fetch (forget) the next change of that key goes whole; a delta is made only when smaller than the value', () => {
    const s = stream();
    const tracker = new DeltaTracker(s.pool);
    expect(tracker.choose(s.publish('a', 1))).toBeUndefined();
    const second = s.publish('a', 2);
    expect(tracker.choose(second)).toBe(second.delta);
    expect(second.delta!.bytes * 3).toBeLessThan(second.bytes);
    tracker.forget(s.bases.slotOf('a'));
    expect(tracker.choose(s.publish('a', 3))).toBeUndefined();
    expect(tracker.choose(s.publish('a', 4))).toBeDefined();
    // A tiny value: its delta would not be smaller, so there is none.
    const tiny = new Publication('c', POLICY, 'E0', 100, 't', undefined, encodeMessage('c', 100, 't', '1'), 0);
    const tiny2 = new Publication('c', POLICY, 'E0', 101, 't', undefined, encodeMessage('c', 101, 't', '2'), 0);
    s.bases.note(tiny, true);
    s.bases.note(tiny2, true);
    expect(tiny2.delta).toBeUndefined();
  });

  it('delta bases hold at most maxKeys keys, free a deleted key, and charge each held publication once to the keyed pool', () => {
    const s = stream(2);
    s.publish('a', 1);
    s.publish('b', 1);
    const c = s.publish('c', 1);
    expect(c.slot).toBe(-1); // past maxKeys: no base, always whole
    expect(s.publish('c', 2).delta).toBeUndefined();
    const pool = s.pool.bytes;
    expect(pool).toBeGreaterThan(0);
    s.publish('a', 0, true);
    expect(s.pool.bytes).toBeLessThan(pool);
    expect(s.publish('c', 3).slot).toBeGreaterThanOrEqual(0); // the freed slot
    s.bases.clear();
    expect(s.pool.bytes).toBe(0);
  });

  it('a tracker charges its 8 bytes per key slot to the pool, as it grows, until it is released', () => {
    const pool = unmeteredPool('keyed');
    const tracker = new DeltaTracker(pool);
    expect(pool.bytes).toBe(16 * 8);
    const s = stream();
    for (let k = 0; k < 20; k++) tracker.choose(s.publish(`k${k}`, 1)); // slots 0..19: grows to 32
    expect(pool.bytes).toBe(32 * 8);
    tracker.release();
    expect(pool.bytes).toBe(0);
    tracker.release();
    for (let k = 20; k < 40; k++) tracker.choose(s.publish(`k${k}`, 1)); // grows to 64 slots after release: not charged
    expect(pool.bytes).toBe(0);
  });
});
