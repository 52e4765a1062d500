import type { Queueable } from '../flow/outbound-queue.js';
import type { PreparedFrame } from '../net/socket.js';
import type { QueuePolicy } from '../protocol/policy.js';
import type { DeltaFrame } from './delta.js';

/**
 * One published message, encoded once. The same object sits in the channel's history and in every
 * subscriber's outbound queue; nothing about it is per subscriber.
 */
export class Publication implements Queueable {
  readonly bytes: number;
  readonly cost: number;
  /** Outbound queues, replay lanes and join buffers holding it (each budget pool counts it once). */
  queued = 0;
  replaying = 0;
  held = 0;
  /** A keyed channel's state and the node's delta bases holding it (the keyed pool counts it once). */
  keyedRefs = 0;
  /** On a delta channel: its key's slot in the node's delta bases (-1: none), and its delta frame when one was made. */
  slot = -1;
  delta: DeltaFrame | undefined = undefined;
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
    /** It deletes `key` from a keyed channel's state (docs/keyed.md). */
    readonly del = false,
  ) {
    this.bytes = encoded.length;
    this.cost = publicationCost(this.bytes);
  }
}

/** What a publication object, its fields and the buffers' headers cost beyond their bytes (an estimate, rounded up). */
const PUBLICATION_OVERHEAD = 320;

/**
 * Bytes a publication of `encodedBytes` is charged to the memory budget: its encoded bytes, the
 * transport's framed copy of them (made on first delivery; counted from the start, so a charge
 * never changes while it is held), and the objects around both.
 */
export function publicationCost(encodedBytes: number): number {
  return 2 * encodedBytes + PUBLICATION_OVERHEAD;
}
