import type { ShedReason } from '../protocol/policy.js';
import type { SluiceError } from './errors.js';
import type { PresenceOptions } from './presence.js';

/** What a subscriber of the client sees: its options, and the messages and gaps it receives. */

/** One message of a channel, delivered exactly once and in seq order per subscription. */
export interface Message<T = unknown> {
  readonly type: 'message';
  readonly channel: string;
  readonly seq: number;
  readonly data: T;
  readonly key?: string;
  /** The message deleted `key` (a keyed channel). */
  readonly del?: true;
}

/** A keyed channel's snapshot was applied: `state` is the view at `seq`; `resumed`: it replaced what a resume could not replay. */
export interface SnapshotInfo<T = unknown> {
  readonly channel: string;
  readonly epoch: string;
  readonly seq: number;
  readonly resumed: boolean;
  readonly state: ReadonlyMap<string, T>;
}

/**
 * The reasons of the broker's notices (`gap` frames carrying `epoch` + `seq`): `unavailable`,
 * messages published while the node's broker link was down and no longer in history; `reset`, the
 * channel's stream itself was lost and went on in a new epoch.
 */
export type StreamNoticeReason = 'unavailable' | 'reset';

/**
 * Why messages are missing:
 * - `dropped` / `conflated` / `expired`: the server shed them for this client (a `gap` frame);
 * - `unavailable` / `reset`: the server's broker lost them (see `StreamNoticeReason`);
 * - `unrecoverable`: on resume the server no longer held them in history (`recovered:false`);
 * - `skipped`: the subscription was made with `recover: false`, so a reconnect does not replay;
 * - `missing`: a seq jump that no `gap` frame announced (a server bug; never expected);
 * - `overflow`: the async iterator's buffer was full (its range may also cover messages the
 *   server shed while it was full);
 * - `delta`: a delta (option `delta`) that did not apply to the value held (never expected): the
 *   key's value is fetched again into `values`, and its next change comes whole.
 */
export type GapReason = ShedReason | StreamNoticeReason | 'unrecoverable' | 'skipped' | 'missing' | 'overflow' | 'delta';

/**
 * Messages `from`..`to` (inclusive, in epoch `epoch`) that this subscription did not and will not
 * receive. `n`, when known, is how many of the seqs in that range are missing (a server `gap`
 * frame may cover a range of which only some were shed); otherwise every seq in the range is.
 * `previous` is set when the channel's epoch changed (the server lost its history, e.g. it
 * restarted, or its broker lost the stream): then, in addition, every message of the previous
 * epoch after `previous.seq` is lost, in a number nobody can know any more, and `from`..`to` are
 * the new epoch's messages before the subscription's new position. `from > to` (an empty range)
 * happens only with `previous`.
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

export interface SubscribeOptions<T = unknown> extends PresenceOptions {
  onMessage?: (message: Message<T>) => void;
  /** Every gap is reported here (and through the async iterator); none is ever hidden. */
  onGap?: (gap: Gap) => void;
  /** The server refused the subscription (e.g. `too_many_subscriptions`); it has ended. */
  onError?: (error: SluiceError) => void;
  /** Resume with `since` on reconnect (default true). False: start from the live position. */
  recover?: boolean;
  /** Events the async iterator buffers for a consumer that is behind (default 1024). */
  iteratorBufferSize?: number;
  /**
   * A keyed channel (docs/keyed.md): ask for the latest value of every key first. `state` then
   * holds the view, and a resume history cannot serve gets the snapshot instead of a gap.
   */
  snapshot?: boolean;
  /**
   * A delivery contract on a keyed channel: at most `maxRate` updates per key per second, the
   * newest (the values skipped are `conflated` gaps); `maxStalenessMs` drops a value that waited
   * longer (`expired`). The server may grant another rate within the channel's bounds.
   */
  maxRate?: number;
  maxStalenessMs?: number;
  /**
   * On a delta channel (docs/keyed.md): a change of a key whose previous value this client holds
   * comes as a delta, applied and verified here (messages and `values` carry whole values). One
   * that does not apply is a `delta` gap of its seq, and the key is fetched again for `values`.
   */
  delta?: boolean;
  /** A snapshot was applied to `values` (on subscribe, and when a resume fell back to one). */
  onSnapshot?: (info: SnapshotInfo<T>) => void;
}
