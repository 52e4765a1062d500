/**
 * What happens to a channel's messages for a subscriber whose outbound queue is full.
 * - `drop-oldest`: the oldest queued message of that channel is shed to make room (sensor feeds).
 * - `drop-newest`: the arriving message is shed (sensor feeds that value continuity of the past).
 * - `conflate`: a queued message with the same (channel, key) is always replaced by the newer one;
 *   when the queue is still full, behaves like `drop-oldest` (market data: latest value wins).
 * - `disconnect`: the connection is closed with 4100 and its queue discarded; the client resumes
 *   from history (chat: every message matters). Before giving up, messages of lossy channels in the
 *   same queue are shed to make room.
 */
export type SlowConsumerPolicy = 'drop-oldest' | 'drop-newest' | 'conflate' | 'disconnect';

export const POLICIES: readonly SlowConsumerPolicy[] = ['drop-oldest', 'drop-newest', 'conflate', 'disconnect'];

/** Why a queued or arriving message was not delivered; the `reason` of a `gap` frame. */
export type ShedReason = 'dropped' | 'conflated' | 'expired';

/** The per-channel settings the outbound queue needs. Shared by every message of a channel. */
export interface QueuePolicy {
  readonly policy: SlowConsumerPolicy;
  /** Queued messages older than this are shed when they reach the head. 0 = never. */
  readonly maxAgeMs: number;
}
