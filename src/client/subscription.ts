import type { ShedReason } from '../protocol/policy.js';
import type { SluiceError } from './errors.js';

/** One message of a channel, delivered exactly once and in seq order per subscription. */
export interface Message<T = unknown> {
  readonly type: 'message';
  readonly channel: string;
  readonly seq: number;
  readonly data: T;
  readonly key?: string;
}

/**
 * Why messages are missing:
 * - `dropped` / `conflated` / `expired`: the server shed them for this client (a `gap` frame);
 * - `unrecoverable`: on resume the server no longer held them in history (`recovered:false`);
 * - `skipped`: the subscription was made with `recover: false`, so a reconnect does not replay;
 * - `missing`: a seq jump that no `gap` frame announced (a server bug; never expected);
 * - `overflow`: the async iterator's buffer was full (its range may also cover messages the
 *   server shed while it was full).
 */
export type GapReason = ShedReason | 'unrecoverable' | 'skipped' | 'missing' | 'overflow';

/**
 * Messages `from`..`to` (inclusive, in epoch `epoch`) that this subscription did not and will not
 * receive. `n`, when known, is how many of the seqs in that range are missing (a server `gap`
 * frame may cover a range of which only some were shed); otherwise every seq in the range is.
 * `previous` is set when the channel's epoch changed (the server lost its history, e.g. it
 * restarted): then, in addition, every message of the previous epoch after `previous.seq` is lost,
 * in a number nobody can know any more. `from > to` (an empty range) happens only with `previous`.
 */
export interface Gap {
  readonly type: 'gap';
  readonly channel: string;
  readonly from: number;
  readonly to: number;
  readonly n?: number;
  readonly reason: GapReason;
  readonly epoch: string;
  readonly previous?: { readonly epoch: string; readonly seq: number };
}

export type SubscriptionEvent<T = unknown> = Message<T> | Gap;

export interface SubscribeOptions<T = unknown> {
  onMessage?: (message: Message<T>) => void;
  /** Every gap is reported here (and through the async iterator); none is ever hidden. */
  onGap?: (gap: Gap) => void;
  /** The server refused the subscription (e.g. `too_many_subscriptions`); it has ended. */
  onError?: (error: SluiceError) => void;
  /** Resume with `since` on reconnect (default true). False: start from the live position. */
  recover?: boolean;
  /** Events the async iterator buffers for a consumer that is behind (default 1024). */
  iteratorBufferSize?: number;
}

export type SubscriptionState = 'pending' | 'active' | 'ended';

/** What a subscription needs of its client. */
export interface SubscriptionOwner {
  unsubscribe(sub: Subscription<any>): Promise<void>;
  handlerFailed(error: unknown): void;
}

export interface AckFrame {
  readonly epoch: string;
  readonly seq: number;
  readonly recovered?: boolean;
}

export interface MessageFrame {
  readonly seq: number;
  readonly data: unknown;
  readonly key?: string;
}

export interface GapFrame {
  readonly from: number;
  readonly to: number;
  readonly n?: number;
  readonly reason: ShedReason;
}

export interface SubscriptionCounters {
  messages: number;
  duplicates: number;
  gaps: number;
  /** Resumes the server answered with `recovered:true`. */
  resumes: number;
}

/**
 * One channel subscription on the client: tracks epoch and last seq across reconnects, drops
 * duplicates by seq, turns every hole into a `Gap`, and feeds handlers and the async iterator.
 */
export class Subscription<T = unknown> implements AsyncIterable<SubscriptionEvent<T>> {
  /** `pending` until the server acknowledged the current (re)subscription. */
  state: SubscriptionState = 'pending';
  /** The epoch of the channel and the seq of the last message received (or skipped past). */
  epoch: string | undefined;
  lastSeq = 0;
  readonly counters: SubscriptionCounters = { messages: 0, duplicates: 0, gaps: 0, resumes: 0 };
  /** Resolves on the first acknowledgement; rejects if the server refuses the subscription. */
  readonly ready: Promise<void>;
  readonly recover: boolean;
  /** Seqs up to this one were accounted for by a `gap` frame or an acknowledgement. */
  private coveredTo = 0;
  private readyResolve!: () => void;
  private readyReject!: (err: unknown) => void;
  private iterator: EventBuffer<T> | undefined;

  constructor(
    readonly channel: string,
    private readonly options: SubscribeOptions<T>,
    private readonly owner: SubscriptionOwner,
  ) {
    this.recover = options.recover ?? true;
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => {});
  }

  /** Stops the subscription; resolves once the server confirmed (at once when offline). */
  unsubscribe(): Promise<void> {
    if (this.state === 'ended') return Promise.resolve();
    return this.owner.unsubscribe(this);
  }

  /** The `sub` request for this (re)subscription. */
  request(): Record<string, unknown> {
    const frame: Record<string, unknown> = { op: 'sub', ch: this.channel };
    if (this.recover && this.epoch !== undefined) frame.since = { epoch: this.epoch, seq: this.lastSeq };
    return frame;
  }

  /** The connection dropped: until the next acknowledgement, nothing of this channel is accepted. */
  disconnected(): void {
    if (this.state === 'active') this.state = 'pending';
  }

  acknowledged(ack: AckFrame): void {
    if (this.state === 'ended') return;
    const first = this.epoch === undefined;
    if (first) {
      this.lastSeq = ack.seq;
    } else if (ack.recovered === true) {
      // The replay of lastSeq+1 .. ack.seq follows the acknowledgement.
      this.counters.resumes++;
    } else {
      const reason: GapReason = this.recover ? 'unrecoverable' : 'skipped';
      if (ack.epoch !== this.epoch) {
        this.emitGap({ from: 1, to: ack.seq, n: ack.seq, reason, epoch: ack.epoch, previous: { epoch: this.epoch!, seq: this.lastSeq } });
      } else if (ack.seq > this.lastSeq) {
        this.emitGap({ from: this.lastSeq + 1, to: ack.seq, n: ack.seq - this.lastSeq, reason, epoch: ack.epoch });
      }
      this.lastSeq = ack.seq;
    }
    this.epoch = ack.epoch;
    this.coveredTo = this.lastSeq;
    this.state = 'active';
    if (first) this.readyResolve();
  }

  /** The server refused the (re)subscription: the subscription ends. */
  failed(error: SluiceError): void {
    if (this.state === 'ended') return;
    this.end();
    this.readyReject(error);
    if (this.options.onError) this.call(this.options.onError, error);
  }

  message(frame: MessageFrame): void {
    // Before the acknowledgement, messages can only be leftovers of an earlier subscription.
    if (this.state !== 'active') return;
    const { seq } = frame;
    if (seq <= this.lastSeq) {
      this.counters.duplicates++;
      return;
    }
    if (seq > this.lastSeq + 1 && seq - 1 > this.coveredTo) {
      const from = Math.max(this.lastSeq, this.coveredTo) + 1;
      this.emitGap({ from, to: seq - 1, n: seq - from, reason: 'missing', epoch: this.epoch! });
    }
    this.lastSeq = seq;
    this.counters.messages++;
    const message: Message<T> = frame.key === undefined
      ? { type: 'message', channel: this.channel, seq, data: frame.data as T }
      : { type: 'message', channel: this.channel, seq, data: frame.data as T, key: frame.key };
    if (this.options.onMessage) this.call(this.options.onMessage, message);
    this.iterator?.push(message, this.epoch!);
  }

  gap(frame: GapFrame): void {
    if (this.state !== 'active') return;
    this.coveredTo = Math.max(this.coveredTo, frame.to);
    this.emitGap({ from: frame.from, to: frame.to, n: frame.n, reason: frame.reason, epoch: this.epoch! });
  }

  /** Ends the subscription locally: handlers stop, the iterator finishes. */
  end(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.iterator?.finish();
    this.iterator = undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<SubscriptionEvent<T>> {
    if (this.iterator !== undefined) throw new Error(`subscription ${this.channel} is already being iterated`);
    const buffer = new EventBuffer<T>(this.channel, this.options.iteratorBufferSize ?? 1024, () => {
      if (this.iterator === buffer) this.iterator = undefined;
    });
    if (this.state === 'ended') buffer.finish();
    else this.iterator = buffer;
    return buffer;
  }

  private emitGap(fields: Omit<Gap, 'type' | 'channel'>): void {
    const gap: Gap = { type: 'gap', channel: this.channel, ...fields };
    if (gap.n === undefined) delete (gap as { n?: number }).n;
    this.counters.gaps++;
    if (this.options.onGap) this.call(this.options.onGap, gap);
    this.iterator?.push(gap, gap.epoch);
  }

  /** A throwing handler must not break delivery of the next message. */
  private call<A>(handler: (arg: A) => void, arg: A): void {
    try {
      handler(arg);
    } catch (err) {
      this.owner.handlerFailed(err);
    }
  }
}

/**
 * The async iterator's bounded buffer. When the consumer is `size` events behind, newer messages
 * are not buffered; they become one `overflow` gap, delivered in order once there is room.
 */
class EventBuffer<T> implements AsyncIterator<SubscriptionEvent<T>> {
  private events: SubscriptionEvent<T>[] = [];
  private head = 0;
  private waiter: ((result: IteratorResult<SubscriptionEvent<T>>) => void) | undefined;
  private overflow: { from: number; to: number; n: number; epoch: string } | undefined;
  private done = false;

  constructor(
    private readonly channel: string,
    private readonly size: number,
    private readonly detach: () => void,
  ) {}

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
    const from = event.type === 'message' ? event.seq : event.from;
    const to = event.type === 'message' ? event.seq : event.to;
    const n = event.type === 'message' ? 1 : (event.n ?? event.to - event.from + 1);
    if (this.overflow === undefined) this.overflow = { from, to, n, epoch };
    else {
      this.overflow.to = Math.max(this.overflow.to, to);
      this.overflow.n += n;
    }
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

  private flushOverflow(): void {
    const o = this.overflow!;
    this.overflow = undefined;
    this.events.push({ type: 'gap', channel: this.channel, from: o.from, to: o.to, n: o.n, reason: 'overflow', epoch: o.epoch });
  }
}
