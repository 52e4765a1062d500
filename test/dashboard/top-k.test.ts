import { describe, expect, it } from 'vitest';
import { TopK } from '../../src/dashboard/top-k.js';

describe('TopK', () => {
  it('keeps the k largest scores, largest first, and ignores non-positive ones', () => {
    const top = new TopK<number>(3);
    for (const n of [5, 1, 0, 9, -2, 7, 3, 8]) if (top.accepts(n)) top.add(n, n);
    expect(top.toArray()).toEqual([9, 8, 7]);
    expect(top.accepts(7)).toBe(false);
    expect(top.accepts(7.5)).toBe(true);
  });
});
