import { BufferFullError } from './errors.js';

export interface PublishAck {
  readonly channel: string;
  /** The seq the server gave the message. */
  readonly seq: number;
}

export interface PublishLimits {
  /** Publishes held locally (queued + awaiting their ack). Default 1000. */
  readonly maxMessages?: number;
  /** Bytes of encoded frames held locally. Default 1 MiB. */
  readonly maxBytes?: number;
  /**
   * Publishes sent and not yet acknowledged. Default 8. Kept small on purpose: after a
   * `rate_limited` reply the frames already in flight are refused too, and each refusal is a strike
   * towards the server's `4101`.
   */
  readonly maxInFlight?: number;
}

/** One publish from the call until its ack. */
export interface PublishEntry {
  readonly id: number;
  readonly channel: string;
  readonly frame: string;
  readonly bytes: number;
  /**
   * When the server first answered `publish_uncertain` (it may have published it): from then on the
   * entry is sent again, with its `pid`, until an answer is certain.
   */
  uncertainSince?: number;
  resolve(ack: PublishAck): void;
  reject(error: unknown): void;
}

/**
 * The client's publish buffer: entries waiting to be sent, in call order, and entries in flight.
 * Both count against one bound in messages and bytes, so memory stays bounded whatever the
 * connection does. Pure bookkeeping: the client decides when to send.
 */
export class PublishQueue {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly maxInFlight: number;
  private waiting: PublishEntry[] = [];
  private readonly inFlight = new Map<number, PublishEntry>();
  private heldBytes = 0;

  constructor(limits: PublishLimits = {}) {
    this.maxMessages = limits.maxMessages ?? 1000;
    this.maxBytes = limits.maxBytes ?? 1024 * 1024;
    this.maxInFlight = limits.maxInFlight ?? 8;
    if (!(this.maxMessages >= 1 && this.maxBytes >= 1 && this.maxInFlight >= 1)) {
      throw new RangeError('publishBuffer limits must be at least 1');
    }
  }

  /** Publishes held (waiting + in flight). */
  get size(): number {
    return this.waiting.length + this.inFlight.size;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Adds a publish, or returns the error that refuses it when the buffer is full. */
  add(entry: PublishEntry): BufferFullError | undefined {
    if (this.size >= this.maxMessages) return new BufferFullError('messages', this.maxMessages);
    if (this.heldBytes + entry.bytes > this.maxBytes) return new BufferFullError('bytes', this.maxBytes);
    this.waiting.push(entry);
    this.heldBytes += entry.bytes;
    return undefined;
  }

  /** The next entry to send, if the in-flight window has room. */
  peek(): PublishEntry | undefined {
    return this.inFlight.size < this.maxInFlight ? this.waiting[0] : undefined;
  }

  /** Moves the entry `peek()` returned to in flight. */
  sent(entry: PublishEntry): void {
    if (this.waiting[0] !== entry) throw new Error('sent() must follow peek()');
    this.waiting.shift();
    this.inFlight.set(entry.id, entry);
  }

  /** The in-flight entry with that id, left in flight. */
  inFlightEntry(id: number): PublishEntry | undefined {
    return this.inFlight.get(id);
  }

  /** The in-flight entry with that id, removed and released; undefined if unknown. */
  settle(id: number): PublishEntry | undefined {
    const entry = this.inFlight.get(id);
    if (entry === undefined) return undefined;
    this.inFlight.delete(id);
    this.heldBytes -= entry.bytes;
    return entry;
  }

  /**
   * The server did not process an in-flight entry (`rate_limited`, `shutting_down`), or may have
   * (`publish_uncertain`: its `pid` makes sending it again safe): it goes back to the waiting line
   * at its place in call order (ids grow with call order).
   */
  retry(id: number): boolean {
    const entry = this.inFlight.get(id);
    if (entry === undefined) return false;
    this.inFlight.delete(id);
    let at = 0;
    while (at < this.waiting.length && this.waiting[at]!.id < id) at++;
    this.waiting.splice(at, 0, entry);
    return true;
  }

  /** Removes and returns every in-flight entry (the connection dropped). */
  takeInFlight(): PublishEntry[] {
    const entries = [...this.inFlight.values()];
    for (const entry of entries) this.heldBytes -= entry.bytes;
    this.inFlight.clear();
    return entries;
  }

  /** Removes and returns every waiting entry. */
  takeWaiting(): PublishEntry[] {
    const entries = this.waiting;
    for (const entry of entries) this.heldBytes -= entry.bytes;
    this.waiting = [];
    return entries;
  }
}

/** UTF-8 length of a string without allocating its bytes. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}
