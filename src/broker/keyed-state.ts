import type { Publication } from '../stream/publication.js';
import type { KeyedSnapshot } from '../stream/snapshot.js';
import type { StreamSettings } from '../stream/settings.js';
import type { MemoryPool } from '../util/memory-budget.js';

/** What one key costs the keyed pool beyond its publication: the map entry and the key string (rounded up). */
const ENTRY_BYTES = 96;

/**
 * The latest publication of every key of one keyed channel, in process (docs/keyed.md). Keys are
 * kept in the order they were last published, which is their expiry order (`keyTtlMs`). Bounded by
 * `maxKeys` and by `keyedMaxBytes` of values (data as published): a publication past either is
 * refused before it is given a seq (`admits`). Every publication held is charged to the keyed pool.
 */
export class KeyedState {
  private readonly byKey = new Map<string, { readonly pub: Publication; readonly valueBytes: number }>();
  /** Bytes of the values held (what `keyedMaxBytes` bounds). */
  valueBytes = 0;
  /** The snapshot of the current position, shared by every subscriber that asks before the next change. */
  private cached: KeyedSnapshot | undefined;

  constructor(
    private readonly settings: StreamSettings,
    private readonly pool: MemoryPool,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** True when a publication of `key` with a value of `valueBytes` (a delete: `del`) fits the bounds. */
  admits(key: string, valueBytes: number, del: boolean, now: number): boolean {
    if (del) return true;
    this.expire(now);
    const { maxKeys = 0, keyedMaxBytes = 0 } = this.settings;
    const held = this.byKey.get(key);
    if (held === undefined && maxKeys > 0 && this.byKey.size >= maxKeys) return false;
    return keyedMaxBytes === 0 || this.valueBytes - (held?.valueBytes ?? 0) + valueBytes <= keyedMaxBytes;
  }

  /** Records a publication of a key (`pub.del`: removes the key). */
  apply(pub: Publication, valueBytes: number): void {
    const key = pub.key!;
    this.remove(key);
    this.cached = undefined;
    if (pub.del) return;
    this.byKey.set(key, { pub, valueBytes });
    this.valueBytes += valueBytes;
    holdKeyed(pub, this.pool);
  }

  /** The latest publication of `key`, unless it expired by `now`. */
  latest(key: string, now: number): Publication | undefined {
    this.expire(now);
    return this.byKey.get(key)?.pub;
  }

  /** The state at the stream's current position. */
  snapshot(epoch: string, seq: number, now: number): KeyedSnapshot {
    this.expire(now);
    if (this.cached === undefined || this.cached.seq !== seq || this.cached.epoch !== epoch) {
      const entries: Publication[] = [];
      for (const { pub } of this.byKey.values()) entries.push(pub);
      this.cached = { epoch, seq, entries };
    }
    return this.cached;
  }

  /** Forgets keys not published for `keyTtlMs`. */
  expire(now: number): void {
    const ttl = this.settings.keyTtlMs ?? 0;
    if (ttl === 0) return;
    for (const [key, { pub }] of this.byKey) {
      if (now - pub.at <= ttl) return;
      this.remove(key);
      this.cached = undefined;
    }
  }

  clear(): void {
    for (const key of [...this.byKey.keys()]) this.remove(key);
    this.cached = undefined;
  }

  private remove(key: string): void {
    const held = this.byKey.get(key);
    if (held === undefined) return;
    this.byKey.delete(key);
    this.valueBytes -= held.valueBytes;
    releaseKeyed(held.pub, this.pool);
  }
}

/** A keyed state or the node's delta bases holds `pub`: the keyed pool counts it once, and each map entry. */
export function holdKeyed(pub: Publication, pool: MemoryPool): void {
  pool.add(pub.keyedRefs++ === 0 ? pub.cost + ENTRY_BYTES : ENTRY_BYTES);
}

export function releaseKeyed(pub: Publication, pool: MemoryPool): void {
  pool.sub(--pub.keyedRefs === 0 ? pub.cost + ENTRY_BYTES : ENTRY_BYTES);
}
