import { describe, expect, it } from 'vitest';
import { PublicationIds } from '../../src/broker/publication-ids.js';

describe('PublicationIds', () => {
  it('answers a pid with its first seq until ttlMs after it was remembered', () => {
    const ids = new PublicationIds(1_000);
    ids.remember('a', 1, 0);
    ids.remember('b', 2, 500);
    expect(ids.lookup('a', 999)).toBe(1);
    expect(ids.lookup('b', 999)).toBe(2);
    expect(ids.lookup('a', 1_000)).toBeUndefined();
    expect(ids.lookup('b', 1_000)).toBe(2);
    expect(ids.size).toBe(1);
    expect(ids.lookup('b', 1_500)).toBeUndefined();
    expect(ids.size).toBe(0);
  });

  it('remembers nothing with ttlMs 0', () => {
    const ids = new PublicationIds(0);
    ids.remember('a', 1, 0);
    expect(ids.lookup('a', 0)).toBeUndefined();
    expect(ids.size).toBe(0);
  });
});
