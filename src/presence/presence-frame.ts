import type { QueuePolicy } from '../protocol/policy.js';
import { Publication } from '../stream/publication.js';

/**
 * Presence frames travel the outbound queue as publications with a queue identity of their own
 * (`~` + the channel: no channel name contains `~`), so a policy that sheds "the oldest of this
 * channel" finds only presence frames, never the channel's data. Event frames are shed oldest
 * first (the watcher is then told to fetch the list again); occupancy frames conflate, since only
 * the newest count matters. Neither expires.
 */
export const EVENTS_POLICY: QueuePolicy = Object.freeze({ policy: 'drop-oldest', maxAgeMs: 0 });
export const OCCUPANCY_POLICY: QueuePolicy = Object.freeze({ policy: 'conflate', maxAgeMs: 0 });

const QUEUE_PREFIX = '~';

export function presenceFrame(kind: 'events' | 'occupancy', channel: string, text: string, at: number): Publication {
  const occupancy = kind === 'occupancy';
  const identity = QUEUE_PREFIX + channel;
  return new Publication(identity, occupancy ? OCCUPANCY_POLICY : EVENTS_POLICY, '', 0, undefined, occupancy ? identity : undefined, Buffer.from(text), at);
}

export function isPresenceFrame(pub: Publication): boolean {
  return pub.queuePolicy === EVENTS_POLICY || pub.queuePolicy === OCCUPANCY_POLICY;
}

/** A presence frame's event part was shed (the watcher's list is stale); occupancy conflation loses nothing. */
export function isEventFrame(pub: Publication): boolean {
  return pub.queuePolicy === EVENTS_POLICY;
}

/** The queue identity of a channel's presence frames. */
export function presenceQueueIdentity(channel: string): string {
  return QUEUE_PREFIX + channel;
}
