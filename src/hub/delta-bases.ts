import { holdKeyed, releaseKeyed } from '../broker/keyed-state.js';
import type { PreparedFrame } from '../net/socket.js';
import { encodeDelta } from '../stream/delta.js';
import type { Publication } from '../stream/publication.js';
import type { MemoryPool } from '../util/memory-budget.js';

/**
 * The node's delta bases of one delta channel (docs/keyed.md, "Deltas"): the last publication of
 * each key that this node saw in the channel's stream, each under a small integer slot that
 * subscribers' delta trackers index. Each new publication of a key is encoded once as a delta
 * against the one held (`note`), then replaces it.
 *
 * Correctness does not rest on the bases being complete: a delta names the seq of the value it
 * applies to, and a subscriber gets it only if that seq is the last value of the key written to
 * it. So bases are kept only while the node follows the stream (the hub clears them when it stops,
 * and on a new epoch), and at most `maxKeys` keys (0: no count bound beyond the channel's own).
 * Held publications are charged to the keyed pool (once, shared with the keyed state).
 */
export class DeltaBases {
  private readonly byKey = new Map<string, { slot: number; pub: Publication | undefined }>();
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private epoch = '';

  constructor(
    private readonly maxKeys: number,
    /** The keyed pool: it holds the bases, and subscribers' delta trackers charge it too. */
    readonly pool: MemoryPool,
    private readonly prepare: (payload: Buffer) => PreparedFrame,
  ) {}

  /** Slots handed out so far (a tracker never needs more). */
  get slots(): number {
    return this.nextSlot;
  }

  /** The slot of `key`, -1 when it has none. */
  slotOf(key: string): number {
    return this.byKey.get(key)?.slot ?? -1;
  }

  /**
   * A publication of the stream, in stream order: it takes its key's slot and, with `encode` (the
   * node has delta subscribers), its delta against the key's held value; then it is the held value.
   */
  note(pub: Publication, encode: boolean): void {
    const key = pub.key;
    if (key === undefined) return;
    if (pub.epoch !== this.epoch) {
      this.clear();
      this.epoch = pub.epoch;
    }
    let entry = this.byKey.get(key);
    if (entry === undefined) {
      if (pub.del || (this.maxKeys > 0 && this.byKey.size >= this.maxKeys)) return;
      entry = { slot: this.freeSlots.pop() ?? this.nextSlot++, pub: undefined };
      this.byKey.set(key, entry);
    }
    pub.slot = entry.slot;
    const base = entry.pub;
    if (encode && base !== undefined && !pub.del && pub.delta === undefined) pub.delta = encodeDelta(pub, base, this.prepare);
    if (base !== undefined) releaseKeyed(base, this.pool);
    if (pub.del) {
      this.byKey.delete(key);
      this.freeSlots.push(entry.slot);
      return;
    }
    entry.pub = pub;
    holdKeyed(pub, this.pool);
  }

  clear(): void {
    for (const { pub } of this.byKey.values()) if (pub !== undefined) releaseKeyed(pub, this.pool);
    this.byKey.clear();
    this.freeSlots.length = 0;
    this.nextSlot = 0;
  }
}
