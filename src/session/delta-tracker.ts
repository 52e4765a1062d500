import type { DeltaFrame } from '../stream/delta.js';
import type { Publication } from '../stream/publication.js';
import type { MemoryPool } from '../util/memory-budget.js';

/** Slots a tracker starts with; it doubles up to the channel's number of delta bases. */
const INITIAL_SLOTS = 16;

/**
 * What one delta subscriber holds (`sub` with `delta` on a delta channel, docs/keyed.md): for each
 * key slot of the node's delta bases, the seq of the last value of that key written to it (-1:
 * none). A publication goes out as its delta frame exactly when the delta's base is that seq, in the
 * same epoch; otherwise whole. So a value that was shed, paced away, expired, or never sent is
 * never a base, and nothing before this subscription (a snapshot, an earlier connection) is one.
 * The choice is made as the frame is written: what was queued and then shed never counts.
 * Costs 8 bytes per key slot of the channel, charged to `pool` (the one holding the channel's delta
 * bases) until `release`.
 */
export class DeltaTracker {
  private seqs = new Float64Array(INITIAL_SLOTS).fill(-1);
  private epoch = '';
  private charged: number;

  constructor(private readonly pool: MemoryPool) {
    this.charged = this.seqs.byteLength;
    pool.add(this.charged);
  }

  /** The subscription ended: its bytes leave the pool. Idempotent. */
  release(): void {
    this.pool.sub(this.charged);
    this.charged = 0;
  }

  /** The frame to write for `pub` (its delta, or undefined: the full frame), and records it as written. */
  choose(pub: Publication): DeltaFrame | undefined {
    const slot = pub.slot;
    if (slot < 0) return undefined;
    if (pub.epoch !== this.epoch) {
      this.seqs.fill(-1);
      this.epoch = pub.epoch;
    }
    if (slot >= this.seqs.length) this.grow(slot);
    const held = this.seqs[slot]!;
    const delta = pub.delta;
    // Seqs of one stream only grow: an older value written after a newer one never replaces it as the held one.
    if (pub.del) this.seqs[slot] = -1;
    else if (pub.seq > held) this.seqs[slot] = pub.seq;
    return delta !== undefined && delta.base === held ? delta : undefined;
  }

  /** The client holds no value written so far (its view was replaced by a snapshot). */
  reset(): void {
    this.seqs.fill(-1);
  }

  /** The client no longer holds its value of the key in `slot` (it asked to fetch it again). */
  forget(slot: number): void {
    if (slot >= 0 && slot < this.seqs.length) this.seqs[slot] = -1;
  }

  private grow(slot: number): void {
    let size = this.seqs.length * 2;
    while (size <= slot) size *= 2;
    const seqs = new Float64Array(size).fill(-1);
    seqs.set(this.seqs);
    this.seqs = seqs;
    if (this.charged > 0) {
      this.pool.add(seqs.byteLength - this.charged);
      this.charged = seqs.byteLength;
    }
  }
}
