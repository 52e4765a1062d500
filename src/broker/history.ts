import type { Publication } from '../stream/publication.js';
import type { StreamSettings } from '../stream/settings.js';
import type { MemoryPool } from '../util/memory-budget.js';

/** `messages`: every publication asked for (`recovered`), or with `tail` those still held, else none. */
export interface Replay {
  readonly recovered: boolean;
  readonly messages: Publication[];
}

const LOST: Replay = Object.freeze({ recovered: false, messages: [] });

/**
 * A channel's recent publications, bounded by count, age and bytes, for resume. Holds consecutive
 * seqs: every publication of the channel is appended, the oldest fall out. Its bytes (by
 * `Publication.cost`) are charged to the budget's history pool while held.
 */
export class History {
  private items: Publication[] = [];
  private head = 0;
  /** Encoded bytes of the publications held (what `historyMaxBytes` bounds; the pool is charged their cost). */
  bytes = 0;

  constructor(
    private readonly settings: StreamSettings,
    private readonly pool: MemoryPool,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  append(pub: Publication): void {
    const { historySize, historyMaxBytes } = this.settings;
    if (historySize === 0) return;
    this.items.push(pub);
    this.bytes += pub.bytes;
    this.pool.add(pub.cost);
    if (this.items.length - this.head > historySize) this.dropOldest();
    if (historyMaxBytes > 0) while (this.bytes > historyMaxBytes && this.length > 1) this.dropOldest();
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets entries older than the TTL. */
  expire(now: number): void {
    const { historyTtlMs } = this.settings;
    if (historyTtlMs === 0) return;
    while (this.head < this.items.length && now - this.items[this.head]!.at > historyTtlMs) this.dropOldest();
    if (this.head === this.items.length) this.reset();
  }

  /** Forgets the oldest entries until at most `bytes` encoded bytes are held (memory pressure); 0 empties it. */
  trim(bytes: number): void {
    while (this.bytes > bytes && this.head < this.items.length) this.dropOldest();
    if (this.head === this.items.length) this.reset();
  }

  /**
   * The publications after `sinceSeq`, in order, if all of them are still held (with `tail`, those
   * that are); `currentSeq` is the channel's last assigned seq.
   */
  after(sinceSeq: number, currentSeq: number, now: number, tail = false): Replay {
    if (sinceSeq > currentSeq) return LOST;
    if (sinceSeq === currentSeq) return { recovered: true, messages: [] };
    this.expire(now);
    const first = this.items[this.head];
    if (first === undefined) return LOST;
    if (first.seq > sinceSeq + 1) return tail ? { recovered: false, messages: this.items.slice(this.head) } : LOST;
    const start = this.head + (sinceSeq + 1 - first.seq);
    return { recovered: true, messages: this.items.slice(start) };
  }

  private dropOldest(): void {
    const pub = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Publication;
    this.bytes -= pub.bytes;
    this.pool.sub(pub.cost);
  }

  private reset(): void {
    this.items = [];
    this.head = 0;
  }
}
