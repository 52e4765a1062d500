import { snapshotChunkHead, snapshotChunkTail } from '../protocol/frames.js';
import type { Publication } from './publication.js';

/**
 * A keyed channel's state at one position of its stream (docs/keyed.md): for every key present at
 * `seq`, its publication with the highest seq ≤ `seq`. Entries are shared, immutable publications:
 * the array is the only thing a snapshot owns.
 */
export interface KeyedSnapshot {
  readonly epoch: string;
  readonly seq: number;
  readonly entries: readonly Publication[];
}

/** What a snapshot's entry list costs the memory budget while a subscriber is being sent it. */
export function snapshotCost(snapshot: KeyedSnapshot): number {
  return 64 + 8 * snapshot.entries.length;
}

/**
 * Encodes one subscriber's snapshot as `snap` frames, one chunk at a time, as its socket drains:
 * no snapshot is ever copied whole. A chunk holds entries up to `chunkBytes` (a single larger entry
 * goes alone); an empty state is one chunk with no entries, so a snapshot always ends with
 * `last: true`.
 */
export class SnapshotCursor {
  private next = 0;
  private started = false;

  constructor(
    readonly channel: string,
    readonly snapshot: KeyedSnapshot,
    private readonly chunkBytes: number,
    /** A frame written before the first chunk (the broker notice of an unsolicited snapshot). */
    private head?: string | undefined,
  ) {}

  get done(): boolean {
    return this.started && this.next >= this.snapshot.entries.length;
  }

  /** Entries not yet encoded. */
  get remaining(): number {
    return this.snapshot.entries.length - this.next;
  }

  /** The next `snap` frame's text; call only while not `done`. */
  nextChunk(): string {
    if (this.head !== undefined) {
      const head = this.head;
      this.head = undefined;
      return head;
    }
    this.started = true;
    const { entries, epoch, seq } = this.snapshot;
    let text = snapshotChunkHead(this.channel, epoch, seq);
    let bytes = 0;
    const first = this.next;
    while (this.next < entries.length) {
      const pub = entries[this.next]!;
      if (bytes > 0 && bytes + pub.bytes > this.chunkBytes) break;
      if (this.next > first) text += ',';
      text += pub.encoded.toString();
      bytes += pub.bytes;
      this.next++;
    }
    return text + snapshotChunkTail(this.next >= entries.length);
  }
}
