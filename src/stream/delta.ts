import { createDelta } from 'fossil-delta';
import type { PreparedFrame } from '../net/socket.js';
import { encodeDeltaMessage } from '../protocol/frames.js';
import type { Publication } from './publication.js';

/**
 * A publication of a keyed channel encoded as a delta against the previous value of its key
 * (docs/keyed.md, "Deltas"): made once per publication on each node and shared, like the full
 * frame, by every subscriber that holds that previous value. `base` is the seq of the publication
 * whose value the delta applies to (seqs are unique within an epoch, so it names that value).
 */
export interface DeltaFrame {
  readonly base: number;
  readonly encoded: Buffer;
  readonly bytes: number;
  readonly prepared: PreparedFrame;
}

const DATA_MEMBER = Buffer.from(',"data":');

/**
 * The `data` text of a `msg` frame, as published: it is the last member, after the first
 * `,"data":` (the fields before it are a channel name, numbers and a JSON-escaped key, none of which
 * can hold that sequence).
 */
export function dataOf(pub: Publication): Buffer {
  const at = pub.encoded.indexOf(DATA_MEMBER);
  return pub.encoded.subarray(at + DATA_MEMBER.length, pub.encoded.length - 1);
}

/**
 * The delta frame of `pub` against `base` (the previous publication of its key), or undefined
 * when it would not be smaller than the full frame (then everyone gets the full value). The delta
 * is fossil's (https://fossil-scm.org/home/doc/tip/www/delta_format.wiki): it carries the result's
 * length and a 32-bit checksum of it, which the client checks.
 */
export function encodeDelta(pub: Publication, base: Publication, prepare: (payload: Buffer) => PreparedFrame): DeltaFrame | undefined {
  const delta = createDelta(dataOf(base), dataOf(pub));
  const b64 = Buffer.from(delta.buffer, delta.byteOffset, delta.byteLength).toString('base64');
  const encoded = encodeDeltaMessage(pub.channel, pub.seq, pub.key!, base.seq, b64);
  if (encoded.length >= pub.bytes) return undefined;
  return { base: base.seq, encoded, bytes: encoded.length, prepared: prepare(encoded) };
}
