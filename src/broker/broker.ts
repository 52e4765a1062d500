import type { StreamPosition } from '../stream/position.js';
import type { Publication } from '../stream/publication.js';
import type { StreamSettings } from '../stream/settings.js';
import type { KeyedSnapshot } from '../stream/snapshot.js';

/**
 * The Broker seam: where a channel's sequence, history and cross-node delivery live, keyed by
 * channel name. It works per *node*, not per client: the hub subscribes a channel once, when its
 * first local subscriber arrives, and fans each publication out to its local subscribers itself.
 * The broker owns the stream types (stream/): it knows nothing of the hub's channels.
 *
 * Implementations: memory-broker.ts (one node; every call completes synchronously and returns a
 * plain value, so the publish path allocates no Promise) and redis-broker.ts (many nodes; calls
 * that touch Redis return Promises). Callers test `instanceof Promise` to tell the two apart.
 */

/** Why a broker could not serve a call: its backend cannot be reached or did not answer in time. */
export interface Unavailable {
  readonly ok: false;
  readonly code: 'unavailable';
}

export const UNAVAILABLE: Unavailable = Object.freeze({ ok: false, code: 'unavailable' });

/** A publish the backend did not answer in time after it was sent: it may or may not have been published. */
export interface Uncertain {
  readonly ok: false;
  readonly code: 'publish_uncertain';
}

export const UNCERTAIN: Uncertain = Object.freeze({ ok: false, code: 'publish_uncertain' });

/** A publication refused by a keyed channel's bounds (`maxKeys`, `keyedMaxBytes`): nothing was published. */
export interface KeyLimit {
  readonly ok: false;
  readonly code: 'key_limit';
}

export const KEY_LIMIT: KeyLimit = Object.freeze({ ok: false, code: 'key_limit' });

/**
 * `seq` is the publication's place in the channel; once this is returned it is in history. A broker
 * that publishes synchronously (in process) returns the `publication` for the node to deliver to
 * its own subscribers before the call ends; one that publishes through a backend omits it and
 * delivers to every node, this one included, through `BrokerEvents.deliver`.
 */
export type PublishOutcome = { readonly ok: true; readonly seq: number; readonly publication?: Publication } | Unavailable | Uncertain | KeyLimit;

/**
 * The channel's current position, and with a `since` position the publications after it, in order:
 * `recovered` is true when every one of them (since.seq + 1 … position.seq) was still held and
 * `since.epoch` is the current epoch; otherwise `publications` is empty, unless the read asked for
 * the `tail`: then, when `since` is a position of the current stream (or one that continues into
 * it), it holds those still held (the newest, up to position.seq), and the ones before them are
 * lost.
 */
export type HistoryOutcome =
  | {
      readonly ok: true;
      readonly position: StreamPosition;
      readonly recovered: boolean;
      readonly publications: readonly Publication[];
      /**
       * The stream continues `since` although `recovered` is false (not every publication is still
       * held), across epochs too when `since` was a provisional position; absent: only when the
       * epochs are equal.
       */
      readonly continued?: boolean;
      /** The keyed channel's state at `position`, when the read asked for it (see `history`). */
      readonly snapshot?: KeyedSnapshot;
    }
  | Unavailable;

/** A keyed channel's latest value of one key (`fetch`, docs/keyed.md): its seq and data as published; none: the key is absent. */
/**
 * A key's latest value (undefined: absent), read together with the stream's position (`epoch`,
 * `seq`) at that moment; `epoch` is '' when the channel has no stream (nothing published, or it
 * expired).
 */
export type LatestOutcome =
  | { readonly ok: true; readonly epoch: string; readonly seq: number; readonly latest: { readonly seq: number; readonly rawData: string } | undefined }
  | Unavailable;

/** What a broker reports to its node; the hub implements it. */
export interface BrokerEvents {
  /** Encodes a publication of `channel` once, for history replies and live delivery. */
  encode(channel: string, epoch: string, seq: number, key: string | undefined, rawData: string, del?: boolean): Publication;
  /**
   * A publication of a channel the node subscribed to. Per channel, publications arrive in seq
   * order while the broker's link holds; after a loss (`interrupted`), seqs may skip or the epoch
   * may change, which the hub detects and repairs from history.
   */
  deliver(pub: Publication): void;
  /** The broker lost its link: publications may be missed until `restored`. */
  interrupted(): void;
  /** The link is back and every subscribed channel is subscribed again. */
  restored(): void;
}

export interface Broker {
  /** True while the broker can serve publishes and subscriptions (its backend is connected). */
  readonly ready: boolean;
  /** Starts connecting (in the background: an unreachable backend is retried, never thrown). */
  start(events: BrokerEvents): void;
  /**
   * Assigns the next seq of the channel and appends to its history, atomically per channel; then the
   * publication reaches every node subscribed to the channel (see PublishOutcome). With a `pid`
   * the channel has been published with recently, it publishes nothing and answers the seq that
   * publication was given (a retry after `publish_uncertain` or a lost ack). On a keyed channel it
   * also sets (`del`: deletes) the key's latest value in the same step, or refuses (`key_limit`).
   */
  publish(channel: string, settings: StreamSettings, key: string | undefined, rawData: string, pid?: string, del?: boolean): PublishOutcome | Promise<PublishOutcome>;
  /**
   * Starts delivering the channel's publications to this node. Resolves true once every
   * publication assigned a seq after this call completes will be delivered.
   */
  subscribe(channel: string): boolean | Promise<boolean>;
  /** Stops delivering the channel's publications to this node. */
  unsubscribe(channel: string): void;
  /**
   * The channel's position and, with `since`, the publications after it (see HistoryOutcome). On a
   * keyed channel, with `snapshot`, the state at that position too, read in the same step, when
   * there is no `since` or it was not recovered.
   */
  history(channel: string, settings: StreamSettings, since: StreamPosition | undefined, tail?: boolean, snapshot?: boolean): HistoryOutcome | Promise<HistoryOutcome>;
  /** On a keyed channel, the latest value of `key` (absent when deleted, expired or never published). */
  latest(channel: string, settings: StreamSettings, key: string): LatestOutcome | Promise<LatestOutcome>;
  /**
   * True while the broker keeps state of the channel in this process that must outlive its
   * subscribers (in-process history); expires that state by `now` first.
   */
  retains(channel: string, now: number): boolean;
  /**
   * Forgets the oldest in-process history of the channel until at most `bytes` are held (memory
   * pressure), keeping its position: a later resume learns the exact range it lost.
   */
  trimHistory(channel: string, bytes: number): void;
  /** The hub forgot the channel: drop any in-process state of it. */
  release(channel: string): void;
  close(): Promise<void>;
}
