import type { Publication } from '../stream/publication.js';

/** `messages`: every publication asked for (`recovered`), or with `tail` those still held, else none. */
export interface Replay {
  readonly recovered: boolean;
  readonly messages: Publication[];
}

const LOST: Replay = Object.freeze({ recovered: false, messages: [] });

/**
 * A channel's recent publications, bounded by count and age, for resume. Holds consecutive seqs:
 * every publication of the channel is appended, the oldest fall out.
 */
export class History {
  private items: Publication[] = [];
  private head = 0;

  constructor(
    private readonly size: number,
    private readonly ttlMs: number,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  append(pub: Publication): void {
    if (this.size === 0) return;
    this.items.push(pub);
    if (this.items.length - this.head > this.size) this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets entries older than the TTL. */
  expire(now: number): void {
    if (this.ttlMs === 0) return;
    while (this.head < this.items.length && now - this.items[this.head]!.at > this.ttlMs) this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
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
}
