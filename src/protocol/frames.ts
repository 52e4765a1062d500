import { oneLine } from './batch.js';
import { ERRORS, type ErrorCode } from './errors.js';
import type { RequestId } from './requests.js';
import type { ShedReason } from './policy.js';

/**
 * Encoders for server → client frames. Data frames are built once per publication. Every frame is
 * one line (no raw `\n`), so that batch frames can join them with one (protocol/batch.ts): a
 * publisher's `data`, forwarded as sent, goes through oneLine(); everything else is built here
 * or by JSON.stringify, which never writes a raw newline.
 */

/**
 * The `msg` frame of one publication. `rawData` is spliced in as received, on one line; channel
 * names never need escaping (see channel-name.ts), and the key is escaped by JSON.stringify.
 */
export function encodeMessage(ch: string, seq: number, key: string | undefined, rawData: string, del = false): Buffer {
  const keyPart = key === undefined ? '' : `,"key":${JSON.stringify(key)}`;
  return Buffer.from(`{"ev":"msg","ch":"${ch}","seq":${seq}${keyPart}${del ? ',"del":true' : ''},"data":${oneLine(rawData)}}`);
}

/**
 * A `msg` frame carrying a delta instead of `data` (docs/keyed.md, "Deltas"): `delta` is a fossil
 * delta, base64, that turns the value of `key` at seq `base` into this publication's value.
 */
export function encodeDeltaMessage(ch: string, seq: number, key: string, base: number, delta: string): Buffer {
  return Buffer.from(`{"ev":"msg","ch":"${ch}","seq":${seq},"key":${JSON.stringify(key)},"base":${base},"delta":"${delta}"}`);
}

/**
 * The answer to `fetch` (docs/keyed.md): the key's value and its seq, or `del` and the stream's seq
 * when the key is absent; `epoch`: the stream the answer belongs to. No `msg` of the key in that
 * epoch with a seq up to `seq` is newer than the answer.
 */
export function encodeFetchAck(id: RequestId | undefined, ch: string, key: string, epoch: string, seq: number, latest: { readonly seq: number; readonly rawData: string } | undefined): string {
  const head = `{"ev":"ack"${id === undefined ? '' : `,"id":${JSON.stringify(id)}`},"ch":"${ch}","key":${JSON.stringify(key)},"epoch":${JSON.stringify(epoch)}`;
  return latest === undefined ? `${head},"seq":${seq},"del":true}` : `${head},"seq":${latest.seq},"data":${oneLine(latest.rawData)}}`;
}

/** The opening of one `snap` frame (docs/keyed.md): `msg` frames, comma-separated, then its close follow. */
export function snapshotChunkHead(ch: string, epoch: string, seq: number): string {
  return `{"ev":"snap","ch":"${ch}","epoch":${JSON.stringify(epoch)},"seq":${seq},"msgs":[`;
}

export function snapshotChunkTail(last: boolean): string {
  return `],"last":${last}}`;
}

export function encodeAck(id: RequestId, fields?: Record<string, unknown>): string {
  return JSON.stringify({ ev: 'ack', id, ...fields });
}

export function encodeError(code: ErrorCode, id?: RequestId, message?: string, retryMs?: number): string {
  const frame: Record<string, unknown> = { ev: 'err' };
  if (id !== undefined) frame.id = id;
  frame.code = code;
  frame.msg = message ?? ERRORS[code].message;
  if (retryMs !== undefined) frame.retryMs = retryMs;
  return JSON.stringify(frame);
}

/** Unsolicited: a refreshed token no longer covers this subscription, which has been removed. */
export function encodeRevoked(ch: string): string {
  return `{"ev":"err","code":"forbidden","ch":"${ch}","msg":"subscription revoked: the refreshed token does not cover this channel"}`;
}

export function encodeGap(ch: string, from: number, to: number, n: number, reason: ShedReason): string {
  return `{"ev":"gap","ch":"${ch}","from":${from},"to":${to},"n":${n},"reason":"${reason}"}`;
}

export function encodePong(id: RequestId | undefined): string {
  return id === undefined ? '{"ev":"pong"}' : JSON.stringify({ ev: 'pong', id });
}

export function encodeHello(fields: Record<string, unknown>): string {
  return JSON.stringify({ ev: 'hello', v: 1, ...fields });
}

/**
 * Publications `from`…`to` of the channel's current epoch were published while the node's broker
 * link was down and are no longer in history: the subscription goes on after `seq` (= `to`). With
 * `snapshot` (a keyed channel): the channel's state at `seq` follows in `snap` frames.
 */
export function encodeUnavailableGap(ch: string, from: number, to: number, epoch: string, snapshot = false): string {
  return `{"ev":"gap","ch":"${ch}","from":${from},"to":${to},"n":${to - from + 1},"reason":"unavailable","epoch":"${epoch}","seq":${to}${snapshot ? ',"snapshot":true' : ''}}`;
}

/**
 * The channel's stream was lost (e.g. Redis restarted empty): publications of the old epoch from
 * `from` on are unknown; the subscription goes on in `epoch` after `seq`. With `snapshot`, as above.
 */
export function encodeResetNotice(ch: string, from: number, epoch: string, seq: number, snapshot = false): string {
  return `{"ev":"gap","ch":"${ch}","from":${from},"reason":"reset","epoch":"${epoch}","seq":${seq}${snapshot ? ',"snapshot":true' : ''}}`;
}
