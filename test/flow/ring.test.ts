import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Ring } from '../../src/flow/ring.js';

describe('Ring', () => {
  it('drops a hole at the head at once, so shedding the oldest never walks over earlier holes', () => {
    const ring = new Ring<{ v: number }>(64);
    for (let v = 0; v < 40; v++) ring.push({ v });
    let visited = 0;
    for (let n = 0; n < 30; n++) {
      const head = ring.findFrom(0, () => {
        visited++;
        return true;
      });
      ring.removeAt(head);
    }
    // Each search found the head at its first look.
    expect(visited).toBe(30);
    expect(ring.span).toBe(10);
    expect(ring.firstPos()).toBe(30);
    expect(ring.peek()?.v).toBe(30);
  });

  it('behaves as a FIFO with removal by position (model-based)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant({ op: 'push' as const }), fc.constant({ op: 'shift' as const }), fc.record({ op: fc.constant('remove' as const), pick: fc.nat() })), { maxLength: 400 }),
        (ops) => {
          const ring = new Ring<{ v: number }>(16);
          const model: Array<{ v: number; pos: number }> = [];
          let next = 0;
          for (const o of ops) {
            if (o.op === 'push') {
              if (model.length >= 16) continue;
              const item = { v: next++ };
              const pos = ring.push(item, (moved, newPos) => {
                const entry = model.find((m) => m.v === moved.v)!;
                entry.pos = newPos;
              });
              expect(pos).toBeGreaterThanOrEqual(0);
              model.push({ v: item.v, pos });
            } else if (o.op === 'shift') {
              expect(ring.shift()?.v).toBe(model.shift()?.v);
            } else if (model.length > 0) {
              const idx = o.pick % model.length;
              const [entry] = model.splice(idx, 1);
              expect(ring.removeAt(entry!.pos)?.v).toBe(entry!.v);
            }
            expect(ring.length).toBe(model.length);
            expect(ring.span).toBeLessThanOrEqual(ring.capacity);
          }
          expect([...ring].map((i) => i.v)).toEqual(model.map((m) => m.v));
        },
      ),
    );
  });

  it('starts small and grows only as needed', () => {
    const ring = new Ring<object>(4096);
    expect(ring.capacity).toBe(8);
    for (let i = 0; i < 100; i++) ring.push({});
    expect(ring.capacity).toBe(128);
  });

  it('refuses a push when full of live items', () => {
    const ring = new Ring<object>(4);
    for (let i = 0; i < 4; i++) expect(ring.push({})).toBeGreaterThanOrEqual(0);
    expect(ring.push({})).toBe(-1);
  });
});
