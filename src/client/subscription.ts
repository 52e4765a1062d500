import type { ShedReason } from '../protocol/policy.js';
import type { SluiceError } from './errors.js';
import type { Gap, GapReason, Message, SnapshotInfo, StreamNoticeReason, SubscribeOptions, SubscriptionEvent } from './subscription-events.js';
import { EventBuffer } from './event-buffer.js';
import { KeyedView, type SnapFrame } from './keyed-view.js';
import { DeltaDecoder, type DeltaMessageFrame } from './delta-decoder.js';
import { PresenceView, type PresenceMember, type Query } from './presence.js';

export type { Message, SnapshotInfo, StreamNoticeReason, GapReason, Gap, SubscriptionEvent, SubscribeOptions } from './subscription-events.js';

export type SubscriptionState = 'pending' | 'active' | 'ended';

/** What a subscription needs of its client. */
export interface SubscriptionOwner {
  unsubscribe(sub: Subscription<any>): Promise<void>;
  handlerFailed(error: unknown): void;
  /** Sends a request and resolves with its `ack` (presence listings). */
  query: Query;
}

export interface AckFrame {
  readonly epoch: string;
  readonly seq: number;
  readonly recovered?: boolean | 'snapshot';
  readonly snapshot?: boolean;
  /** Members of a presence channel, when the subscription asked for presence or occupancy. */
  readonly total?: number;
}

export type MessageFrame = DeltaMessageFrame;

/**
 * A `gap` frame: `n` messages with seqs in `from`..`to` shed for this client; or, when it carries
 * `epoch` + `seq`, a broker notice after which the subscription goes on from that position (a
 * `reset` has no `to`: its old epoch is lost from `from` on).
 */
export interface GapFrame {
  readonly from: number;
  readonly to?: number;
  readonly n?: number;
  readonly reason: ShedReason | StreamNoticeReason;
  readonly epoch?: string;
  readonly seq?: number;
  /** A broker notice on a keyed channel: its state at (`epoch`, `seq`) follows in `snap` frames. */
  readonly snapshot?: boolean;
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
  /**
   * The subscription's position: the channel's epoch, and the seq up to which every message was
   * received or reported lost (the last one received, or skipped past by a gap, an ack or a notice).
   * The next resume starts after it.
   */
  epoch: string | undefined;
  lastSeq = 0;
  readonly counters: SubscriptionCounters = { messages: 0, duplicates: 0, gaps: 0, resumes: 0 };
  /** Resolves on the first acknowledgement; rejects if the server refuses the subscription. */
  readonly ready: Promise<void>;
  readonly recover: boolean;
  /**
   * Seqs past `lastSeq + 1` that gap frames announced while earlier seqs may still arrive (a gap
   * frame ahead of its place, or one that covers its range only in part): not reported again as
   * `missing`, and not skipped past until a message passes them.
   */
  private ahead: { from: number; to: number } | undefined;
  private readyResolve!: () => void;
  private readyReject!: (err: unknown) => void;
  private iterator: EventBuffer<T> | undefined;
  /** The keyed view (with `snapshot`); a snapshot is being received while `snapshotResumed` is set. */
  private readonly view: KeyedView<T> | undefined;
  private snapshotResumed: boolean | undefined;
  /** The values held as delta bases (option `delta`). */
  private readonly deltas: DeltaDecoder | undefined;
  /** Keys being fetched again: the epoch and the highest seq of the key seen since the fetch was sent. */
  private readonly fetching = new Map<string, { epoch: string; seq: number }>();
  /** Keys whose `values` entry is a fetch answer: messages of the key up to that seq are older than it. */
  private readonly fetchedAt = new Map<string, number>();
  /** Members and counts of a presence channel (docs/presence.md). */
  private readonly presenceView: PresenceView;

  constructor(
    readonly channel: string,
    private readonly options: SubscribeOptions<T>,
    private readonly owner: SubscriptionOwner,
  ) {
    this.recover = options.recover ?? true;
    this.view = options.snapshot === true ? new KeyedView<T>() : undefined;
    this.deltas = options.delta === true ? new DeltaDecoder() : undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => {});
    this.presenceView = new PresenceView(channel, options, (frame) => owner.query(frame), (handler, arg) => handler && this.call(handler, arg));
  }

  /**
   * Every member of the channel, listed by the server page by page (a presence channel; needs the
   * `presence` permission). With `presence: true`, `members` is replaced by it too.
   */
  presence(): Promise<PresenceMember[]> {
    return this.presenceView.list();
  }

  /** The members as this subscription knows them (with `presence: true`): listed, then kept by events. */
  get members(): ReadonlyMap<string, PresenceMember> {
    return this.presenceView.members;
  }

  /** The channel's member count, as last received (with `presence` or `occupancy`). */
  get occupancy(): number | undefined {
    return this.presenceView.total;
  }

  /** @internal A `presence` or `occupancy` frame of this channel. */
  presenceFrame(frame: Record<string, unknown>): void {
    if (this.state === 'active') this.presenceView.frame(frame);
  }

  /**
   * A keyed channel's state view, key → latest value, kept up to date (with the `snapshot` option;
   * empty otherwise). `state` is taken by the subscription's lifecycle, hence the name.
   */
  get values(): ReadonlyMap<string, T> {
    return this.view?.state ?? EMPTY;
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
    if (this.view !== undefined) frame.snapshot = true;
    this.presenceView.requestFields(frame);
    if (this.options.maxRate !== undefined) frame.maxRate = this.options.maxRate;
    if (this.options.maxStalenessMs !== undefined) frame.maxStalenessMs = this.options.maxStalenessMs;
    if (this.deltas !== undefined) frame.delta = true;
    return frame;
  }

  /** The connection dropped: until the next acknowledgement, nothing of this channel is accepted. */
  disconnected(): void {
    if (this.state === 'active') this.state = 'pending';
  }

  acknowledged(ack: AckFrame): void {
    if (this.state === 'ended') return;
    const first = this.epoch === undefined;
    this.ahead = undefined;
    this.view?.reset();
    this.deltas?.reset();
    this.fetchedAt.clear();
    this.snapshotResumed = ack.snapshot === true ? !first : undefined;
    if (ack.recovered === 'snapshot' || (first && ack.snapshot === true)) {
      // The state at ack.seq follows in `snap` frames: nothing before it is owed.
      this.epoch = ack.epoch;
      this.lastSeq = ack.seq;
    } else if (first) {
      this.epoch = ack.epoch;
      this.lastSeq = ack.seq;
    } else if (ack.recovered === true) {
      // The replay of lastSeq+1 .. ack.seq follows the acknowledgement (in the ack's epoch, which a provisional one continues into).
      this.counters.resumes++;
      this.epoch = ack.epoch;
    } else {
      this.moveTo(ack.epoch, ack.seq, this.recover ? 'unrecoverable' : 'skipped');
    }
    this.state = 'active';
    this.presenceView.acknowledged(ack.total, !first);
    if (first) this.readyResolve();
  }

  /** The server refused the (re)subscription: the subscription ends. */
  failed(error: SluiceError): void {
    if (this.state === 'ended') return;
    this.end();
    this.readyReject(error);
    if (this.options.onError) this.call(this.options.onError, error);
  }

  /** A chunk of the snapshot announced by the last ack. */
  snapshotChunk(frame: SnapFrame): void {
    if (this.state !== 'active' || this.view === undefined || this.snapshotResumed === undefined) return;
    if (!this.view.chunk(frame)) return;
    const info: SnapshotInfo<T> = { channel: this.channel, epoch: frame.epoch, seq: frame.seq, resumed: this.snapshotResumed, state: this.view.state };
    this.snapshotResumed = undefined;
    if (this.options.onSnapshot) this.call(this.options.onSnapshot, info);
  }

  /** `raw`: the frame as received (a delta subscription keeps the exact text of values). */
  message(frame: MessageFrame, raw?: unknown): void {
    // Before the acknowledgement, messages can only be leftovers of an earlier subscription.
    if (this.state !== 'active') return;
    const { seq } = frame;
    if (seq <= this.lastSeq) {
      this.counters.duplicates++;
      return;
    }
    if (seq > this.lastSeq + 1) this.reportMissing(this.lastSeq + 1, seq - 1);
    this.advance(seq);
    const { key } = frame;
    const fetching = key === undefined ? undefined : this.fetching.get(key);
    if (fetching !== undefined) fetching.seq = seq;
    const value = key === undefined || this.deltas === undefined ? frame : this.deltas.value({ ...frame, key }, raw);
    if (value === undefined) return this.refetch(key!, seq);
    const data = value.data as T;
    this.counters.messages++;
    const del = frame.del === true;
    if (key !== undefined && !this.olderThanFetched(key, seq)) this.view?.apply(key, data, del);
    const message: Message<T> = key === undefined
      ? { type: 'message', channel: this.channel, seq, data }
      : del
        ? { type: 'message', channel: this.channel, seq, data, key, del }
        : { type: 'message', channel: this.channel, seq, data, key };
    if (this.options.onMessage) this.call(this.options.onMessage, message);
    this.iterator?.push(message, this.epoch!);
  }

  /**
   * A delta did not apply: its seq is a `delta` gap, and the key's latest value is fetched for
   * `values`. The answer is valid at its (`epoch`, `seq`): it is used when the subscription is
   * still in that epoch and has seen no message of the key after that seq meanwhile; messages of
   * the key up to that seq still on their way after it are older, and leave `values` alone.
   */
  private refetch(key: string, seq: number): void {
    const epoch = this.epoch!;
    this.emitGap({ from: seq, to: seq, n: 1, reason: 'delta', epoch });
    if (this.fetching.has(key)) return;
    const asked = { epoch, seq };
    this.fetching.set(key, asked);
    const done = (ack: Record<string, any> | undefined) => {
      if (this.fetching.get(key) === asked) this.fetching.delete(key);
      if (ack === undefined || this.state !== 'active' || ack.epoch !== this.epoch || ack.epoch !== asked.epoch || !(ack.seq >= asked.seq)) return;
      this.view?.apply(key, ack.data as T, ack.del === true);
      this.fetchedAt.set(key, ack.seq as number);
    };
    this.owner.query({ op: 'fetch', ch: this.channel, key }).then(done, () => done(undefined));
  }

  /** A message of `key` at `seq` is older than the fetch answer `values` holds for the key. */
  private olderThanFetched(key: string, seq: number): boolean {
    const at = this.fetchedAt.get(key);
    if (at === undefined) return false;
    if (seq <= at) return true;
    this.fetchedAt.delete(key);
    return false;
  }

  gap(frame: GapFrame): void {
    if (this.state !== 'active') return;
    const { from, to, n, epoch, seq } = frame;
    if (epoch !== undefined || seq !== undefined) {
      if (typeof epoch !== 'string' || !isSeq(seq)) throw new TypeError(`gap frame of ${this.channel} with a bad position`);
      if (frame.snapshot === true && this.view !== undefined) return this.restated(epoch, seq);
      return this.moveTo(epoch, seq, frame.reason);
    }
    if (!isSeq(from) || !isSeq(to)) throw new TypeError(`gap frame of ${this.channel} without a seq range`);
    this.emitGap({ from, to, n, reason: frame.reason, epoch: this.epoch! });
    if ((n === undefined || n >= to - from + 1) && from <= this.lastSeq + 1) {
      if (to > this.lastSeq) this.advance(to); // every seq up to `to` is accounted for
    } else if (to > this.lastSeq) {
      const start = Math.max(from, this.lastSeq + 1);
      this.ahead = this.ahead === undefined ? { from: start, to } : { from: Math.min(this.ahead.from, start), to: Math.max(this.ahead.to, to) };
    }
  }

  /**
   * The subscription goes on after `seq` of `epoch` (an ack that did not recover, a broker notice):
   * whatever lies between its position and there is reported lost, with the old epoch in
   * `previous` when the epoch changed.
   */
  private moveTo(epoch: string, seq: number, reason: GapReason): void {
    // An `unavailable` notice names the stream the server's position continues: from a provisional
    // epoch (Redis, before the channel's first publish: `~…`) that is the epoch its first publish made.
    if (reason === 'unavailable' && this.epoch!.startsWith('~')) this.epoch = epoch;
    if (epoch !== this.epoch) {
      this.emitGap({ from: 1, to: seq, n: seq, reason, epoch, previous: { epoch: this.epoch!, seq: this.lastSeq } });
      this.fetchedAt.clear();
      this.epoch = epoch;
      this.lastSeq = seq;
      this.ahead = undefined;
    } else if (seq > this.lastSeq) {
      this.emitGap({ from: this.lastSeq + 1, to: seq, n: seq - this.lastSeq, reason, epoch });
      this.advance(seq);
    }
  }

  /**
   * The server lost part of the stream (a broker notice with `snapshot`) and sends the channel's
   * state at (`epoch`, `seq`) instead: like a resume's fallback, it replaces `values` and fires
   * `onSnapshot`, and no gap is reported. Without the `snapshot` option the notice is a gap, as
   * any other.
   */
  private restated(epoch: string, seq: number): void {
    this.epoch = epoch;
    this.lastSeq = seq;
    this.ahead = undefined;
    this.view!.reset();
    this.deltas?.reset();
    this.fetchedAt.clear();
    this.snapshotResumed = true;
  }

  private advance(seq: number): void {
    this.lastSeq = seq;
    if (this.ahead !== undefined && this.ahead.to <= seq) this.ahead = undefined;
  }

  /** Seqs `from`..`to` were not received: those no gap frame announced are reported `missing`. */
  private reportMissing(from: number, to: number): void {
    const ahead = this.ahead;
    if (ahead === undefined) return this.missing(from, to);
    this.missing(from, Math.min(to, ahead.from - 1));
    this.missing(Math.max(from, ahead.to + 1), to);
  }

  private missing(from: number, to: number): void {
    if (from <= to) this.emitGap({ from, to, n: to - from + 1, reason: 'missing', epoch: this.epoch! });
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

const EMPTY: ReadonlyMap<string, any> = new Map();

function isSeq(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
