import * as wsModule from 'ws';
import { BatchJoiner } from './batch-join.js';

/** Server frames as the ws transport writes them itself: framed once, shared by every socket that sends them. */

/** A payload framed once as an unmasked, uncompressed text frame, plus the payload for sockets that compress. */
export interface WsFrame {
  readonly payload: Buffer;
  readonly framed: Buffer;
}

/** ws's frame encoder; a public export of ws, missing from @types/ws. */
const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] } }).Sender;

/** An unmasked, uncompressed, final frame around `payload` (a server frame): text by default. */
export function frameText(payload: Buffer, opcode = 1): Buffer {
  const parts = Sender.frame(payload, { fin: true, rsv1: false, opcode, mask: false, readOnly: false });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

export const PONG = 0xa;

/** A pong held in a batching socket's turn: control frames are never joined into a batch frame. */
export class HeldPong {
  constructor(readonly payload: Buffer) {}
}

/** Batch frames of a turn, framed once and shared by the sockets with the same turn (see BatchJoiner). */
export const framedJoiner = new BatchJoiner((payload) => frameText(payload));
/** With compression ws frames (and deflates, per socket) what it is given: the joined payloads are shared. */
export const payloadJoiner = new BatchJoiner((payload) => payload);

