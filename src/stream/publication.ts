import type { Queueable } from '../flow/outbound-queue.js';
import type { PreparedFrame } from '../net/socket.js';
import type { QueuePolicy } from '../protocol/policy.js';

/**
 * One published message, encoded once. The same object sits in the channel's history and in every
 * subscriber's outbound queue; nothing about it is per subscriber.
 */
export class Publication implements Queueable {
  readonly bytes: number;
  /** `encoded`, framed by the transport on first delivery and then written to every subscriber. */
  prepared: PreparedFrame | undefined = undefined;

  constructor(
    /** The channel's name; also its identity in outbound queues. */
    readonly channel: string,
    /** The channel's slow-consumer policy, shared by all its publications. */
    readonly queuePolicy: QueuePolicy,
    /** The stream lifetime `seq` belongs to. */
    readonly epoch: string,
    readonly seq: number,
    readonly key: string | undefined,
    /** Set only for messages of `conflate` channels that carry a key: channel + key. */
    readonly conflationKey: string | undefined,
    /** The frame's text as bytes (a `msg`, or a notice for the channel's subscribers). */
    readonly encoded: Buffer,
    /** When it was published (clock ms). */
    readonly at: number,
  ) {
    this.bytes = encoded.length;
  }
}
