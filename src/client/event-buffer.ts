import type { Gap, SubscriptionEvent } from './subscription.js';

/** What the iterator lost while its buffer was full; it becomes one `overflow` gap. */
interface Overflow {
  from: number;
  to: number;
  n: number;
  epoch: string;
  previous: Gap['previous'];
}

/**
 * The async iterator's bounded buffer. When the consumer is `size` events behind, newer events are
 * not buffered; they become one `overflow` gap, delivered in order once there is room. If the
 * channel's epoch changes meanwhile, the overflow moves to the new epoch and names the old one in
 * `previous` (every message of the old epoch from where the overflow began is lost).
 */
export class EventBuffer<T> implements AsyncIterator<SubscriptionEvent<T>> {
  private events: SubscriptionEvent<T>[] = [];
  private head = 0;
  private waiter: ((result: IteratorResult<SubscriptionEvent<T>>) => void) | undefined;
  private overflow: Overflow | undefined;
  private done = false;

  constructor(
    private readonly channel: string,
    private readonly size: number,
    private readonly detach: () => void,
  ) {}

  /** Buffers an event; `epoch` is the subscription's epoch when it happened. */
  push(event: SubscriptionEvent<T>, epoch: string): void {
    if (this.done) return;
    if (this.waiter !== undefined && this.overflow === undefined) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter({ value: event, done: false });
      return;
    }
    if (this.overflow !== undefined && this.length < this.size) this.flushOverflow();
    if (this.length < this.size) {
      this.events.push(event);
      return;
    }
    this.fold(event, epoch);
  }

  next(): Promise<IteratorResult<SubscriptionEvent<T>>> {
    if (this.length > 0) {
      const event = this.events[this.head++]!;
      if (this.head >= 1024 && this.head * 2 >= this.events.length) {
        this.events = this.events.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ value: event, done: false });
    }
    if (this.overflow !== undefined) {
      this.flushOverflow();
      return this.next();
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<SubscriptionEvent<T>>> {
    this.finish();
    this.events = [];
    this.head = 0;
    this.overflow = undefined;
    this.detach();
    return Promise.resolve({ value: undefined, done: true });
  }

  finish(): void {
    this.done = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  private get length(): number {
    return this.events.length - this.head;
  }

  private fold(event: SubscriptionEvent<T>, epoch: string): void {
    const from = event.type === 'message' ? event.seq : event.from;
    const to = event.type === 'message' ? event.seq : event.to;
    const n = event.type === 'message' ? 1 : (event.n ?? event.to - event.from + 1);
    const o = this.overflow;
    if (event.type === 'gap' && event.previous !== undefined) {
      // A new epoch: of the old one, everything from the overflow's start on is lost; the
      // earliest epoch named stays (the messages of any epoch in between are all lost).
      const previous = o === undefined ? event.previous : (o.previous ?? { epoch: o.epoch, seq: o.from - 1 });
      this.overflow = { from, to, n, epoch, previous };
    } else if (o === undefined) {
      this.overflow = { from, to, n, epoch, previous: undefined };
    } else {
      o.from = Math.min(o.from, from);
      o.to = Math.max(o.to, to);
      o.n += n;
    }
  }

  private flushOverflow(): void {
    const { from, to, n, epoch, previous } = this.overflow!;
    this.overflow = undefined;
    const gap: Gap = { type: 'gap', channel: this.channel, from, to, n, reason: 'overflow', epoch };
    this.events.push(previous === undefined ? gap : { ...gap, previous });
  }
}
