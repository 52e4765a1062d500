import { randomBytes } from 'node:crypto';
import type { ResolvedChannelSettings } from '../config/channel-rules.js';
import type { QueuePolicy } from '../flow/policy.js';
import { History } from './history.js';
import type { Publication } from './publication.js';

/** What became of one publication for one subscriber (a number: no allocation per delivery). */
export const DELIVERY = {
  /** Handed to the socket at once. */
  written: 0,
  /** Waiting in the subscriber's outbound queue. */
  queued: 1,
  /** Shed on arrival by the channel's slow-consumer policy (the subscriber will get a gap). */
  shed: 2,
  /** The subscriber was cut off as a slow consumer, or is already closing. */
  disconnected: 3,
} as const;
export type DeliveryOutcome = (typeof DELIVERY)[keyof typeof DELIVERY];

/** Something that receives a channel's publications: one connection's subscription. */
export interface Subscriber {
  deliver(pub: Publication): DeliveryOutcome;
}

/**
 * A channel's state on this node: its subscribers, its sequence and its history. `epoch` names the
 * lifetime of the sequence: a new one starts whenever the channel's state is created afresh
 * (restart, eviction), and resume across epochs is impossible.
 */
export class Channel {
  readonly epoch = randomBytes(6).toString('base64url');
  seq = 0;
  readonly subscribers = new Set<Subscriber>();
  readonly history: History;
  readonly queuePolicy: QueuePolicy;
  lastPublishAt = 0;

  constructor(
    readonly name: string,
    readonly settings: ResolvedChannelSettings,
  ) {
    this.history = new History(settings.historySize, settings.historyTtlMs);
    this.queuePolicy = settings.queuePolicy;
  }

  /** Neither subscribed nor holding history: safe to forget. */
  get idle(): boolean {
    return this.subscribers.size === 0 && this.history.length === 0;
  }
}
