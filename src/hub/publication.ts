import type { Queueable } from '../flow/policy.js';
import type { PreparedFrame } from '../transport/transport.js';
import type { Channel } from './channel.js';

/**
 * One published message, encoded once. The same object sits in the channel's history and in every
 * subscriber's outbound queue; nothing about it is per subscriber.
 */
export class Publication implements Queueable {
  readonly bytes: number;
  /** The payload framed by the transport, prepared on first delivery. */
  frame: PreparedFrame | undefined = undefined;

  constructor(
    readonly channel: Channel,
    readonly seq: number,
    readonly key: string | undefined,
    readonly conflationKey: string | undefined,
    /** The encoded frame body (a `msg`, or a notice for subscribers of the channel). */
    readonly payload: Buffer,
    readonly at: number,
    /** The stream lifetime `seq` belongs to. */
    readonly epoch: string = '',
  ) {
    this.bytes = payload.length;
  }
}
