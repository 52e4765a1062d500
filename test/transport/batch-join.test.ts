import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchJoiner, batchCounts } from '../../src/transport/batch-join.js';

/** The model: events joined by \n, greedily, no payload above maxBytes unless it holds one event. */
function model(events: ReadonlyArray<Buffer | string>, maxBytes: number): { payloads: string[]; ends: number[] } {
  const payloads: string[] = [];
  const ends: number[] = [];
  let current: string[] = [];
  const size = (parts: string[]): number => parts.reduce((n, p) => n + Buffer.byteLength(p), 0) + parts.length - 1;
  events.forEach((event, i) => {
    const text = event.toString();
    if (current.length > 0 && size([...current, text]) > maxBytes) {
      payloads.push(current.join('\n'));
      ends.push(i);
      current = [];
    }
    current.push(text);
  });
  if (current.length > 0) {
    payloads.push(current.join('\n'));
    ends.push(events.length);
  }
  return { payloads, ends };
}

describe('BatchJoiner', () => {
  // A pool of shared events (the prepared frames of a channel) and per-connection texts, with multi-byte characters.
  const pool: Array<Buffer | string> = ['{"ev":"ack","id":1}', Buffer.from('{"ev":"msg","seq":1,"data":"é"}'), Buffer.from('{"ev":"msg","seq":2,"data":"' + 'x'.repeat(40) + '"}'), '{"ev":"pong"}', Buffer.from('{}')];

  it('cuts any run as the model does, and a run equal to the last one (by identity) reuses its payloads without joining', () => {
    const joiner = new BatchJoiner((payload) => payload);
    const run = fc.record({ events: fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 30 }), maxBytes: fc.integer({ min: 1, max: 200 }), from: fc.integer({ min: 0, max: 3 }), repeat: fc.boolean() });
    fc.assert(
      fc.property(fc.array(run, { minLength: 1, maxLength: 20 }), (runs) => {
        // The run cut last: one equal to it (the same events by identity, the same bound) is reused, not joined.
        let last: { events: ReadonlyArray<Buffer | string>; maxBytes: number } | undefined;
        for (const { events, maxBytes, from, repeat } of runs) {
          // The run sits at `from` in the socket's list, after slots already sent.
          const slots: Array<Buffer | string | undefined> = [...Array<undefined>(from).fill(undefined), ...events];
          const before = { ...batchCounts };
          const first = joiner.join(slots, from, slots.length, maxBytes);
          const expected = model(events, maxBytes);
          expect(first.payloads.map(String)).toEqual(expected.payloads);
          expect([...first.ends]).toEqual(expected.ends);
          const equalToLast = last !== undefined && last.maxBytes === maxBytes && last.events.length === events.length && last.events.every((e, i) => e === events[i]);
          expect(batchCounts.joins - before.joins).toBe(equalToLast ? 0 : 1);
          last = { events, maxBytes };
          if (!repeat) continue;
          const kept = [...first.payloads];
          // Another socket with the same events in a list of its own: the same buffers, nothing joined.
          const again = joiner.join([...events], 0, events.length, maxBytes);
          expect(batchCounts.joins - before.joins).toBe(equalToLast ? 0 : 1);
          expect(batchCounts.shared - before.shared).toBe(equalToLast ? 2 : 1);
          expect(again.payloads).toHaveLength(kept.length);
          again.payloads.forEach((p, i) => expect(p).toBe(kept[i]));
        }
      }),
    );
  });

  it('never reuses a run of equal bytes from other buffers, nor one cut at another size', () => {
    const joiner = new BatchJoiner((payload) => payload);
    const a = Buffer.from('{"a":1}');
    joiner.join([a, a], 0, 2, 100);
    const before = { ...batchCounts };
    expect(joiner.join([Buffer.from('{"a":1}'), a], 0, 2, 100).payloads.map(String)).toEqual(['{"a":1}\n{"a":1}']);
    expect(joiner.join([Buffer.from('{"a":1}'), a], 0, 2, 10).payloads.map(String)).toEqual(['{"a":1}', '{"a":1}']);
    expect(batchCounts.joins - before.joins).toBe(2);
  });

  it('gives a run its payloads back to back in one buffer once a second socket shares it, built once; a single payload as it is', () => {
    const joiner = new BatchJoiner((payload) => payload);
    const a = Buffer.from('{"a":1}');
    const b = Buffer.from('{"b":2}');
    joiner.join([a, b, a], 0, 3, 10);
    expect(joiner.payloads).toHaveLength(3);
    // One socket's run: it goes out frame by frame, no copy made.
    expect(joiner.sharedWhole()).toBeUndefined();
    joiner.join([a, b, a], 0, 3, 10);
    const whole = joiner.sharedWhole();
    expect(String(whole)).toBe('{"a":1}{"b":2}{"a":1}');
    joiner.join([a, b, a], 0, 3, 10);
    expect(joiner.sharedWhole()).toBe(whole);
    // Another run starts over; a run cut into one payload is that payload.
    joiner.join([b, a], 0, 2, 10);
    expect(joiner.sharedWhole()).toBeUndefined();
    joiner.join([b, a], 0, 2, 100);
    expect(joiner.sharedWhole()).toBe(joiner.payloads[0]);
  });
});
