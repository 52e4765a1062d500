import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeldFrames } from '../../src/session/held-frames.js';

describe('HeldFrames', () => {
  it('keeps copies of frames valid only during the call, in order, whatever their sizes and however taken (property)', () => {
    const step = fc.oneof(fc.record({ bytes: fc.uint8Array({ maxLength: 3000 }), binary: fc.boolean() }), fc.constant('take' as const), fc.constant('clear' as const));
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const held = new HeldFrames(false);
        const model: Array<{ text: string; binary: boolean }> = [];
        for (const s of steps) {
          if (s === 'clear') {
            held.clear();
            model.length = 0;
          } else if (s === 'take') {
            if (model.length === 0) continue;
            const want = model.shift()!;
            expect(held.first().toString('hex')).toBe(want.text);
            expect(held.firstIsBinary()).toBe(want.binary);
            held.shift();
          } else {
            // The transport's buffer is reused once the call returns: overwritten here.
            const data = Buffer.from(s.bytes);
            held.push(data, s.binary);
            model.push({ text: data.toString('hex'), binary: s.binary });
            data.fill(0xee);
          }
          expect(held.size).toBe(model.length);
          expect(held.bytes).toBe(model.reduce((n, f) => n + f.text.length / 2, 0));
          if (model.length > 0) expect(held.first().toString('hex')).toBe(model[0]!.text);
        }
      }),
    );
  });

  it('grows its copy buffer no further than its limit or the frame that needs more', () => {
    const held = new HeldFrames(false, 10_000);
    const size = () => (held as unknown as { copies: Buffer }).copies.length;
    held.push(Buffer.alloc(3000), false);
    expect(size()).toBe(4096);
    held.push(Buffer.alloc(3000), false);
    expect(size()).toBe(8192);
    held.push(Buffer.alloc(3000), false);
    expect(size()).toBe(10_000);
    held.push(Buffer.alloc(3000), false);
    expect(size()).toBe(12_000);
    expect(held.first().length).toBe(3000);
  });

  it('stays within its bound when frames keep coming while older ones are taken and it never empties', () => {
    for (const stable of [false, true]) {
      const held = new HeldFrames(stable, 64 * 1024);
      const inside = held as unknown as { copies: Buffer | undefined; ends: number[]; refs: unknown[] };
      let next = 0;
      let taken = 0;
      for (let i = 0; i < 20_000; i++) {
        held.push(Buffer.from(`frame ${next++} `.padEnd(100, '.')), false);
        // A few frames always wait: the queue is never empty, so it is never cleared.
        while (held.size > 8) {
          expect(held.first().toString().startsWith(`frame ${taken++} `)).toBe(true);
          held.shift();
        }
        expect(held.bytes).toBe(held.size * 100);
      }
      // 2 MB went through; what is kept is about what is held, not all that ever was.
      expect(inside.copies?.length ?? 0).toBeLessThanOrEqual(64 * 1024);
      expect(inside.ends.length + inside.refs.length).toBeLessThanOrEqual(2 * 1024 + 16);
    }
  });

  it('keeps stable frames themselves', () => {
    const held = new HeldFrames(true);
    const a = Buffer.from('a');
    held.push(a, false);
    held.push(Buffer.from('bc'), true);
    expect(held.first()).toBe(a);
    expect(held.bytes).toBe(3);
    held.shift();
    expect(held.first().toString()).toBe('bc');
    expect(held.firstIsBinary()).toBe(true);
    held.shift();
    expect(held.size).toBe(0);
    expect(held.bytes).toBe(0);
  });
});
