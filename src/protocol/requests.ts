import { z } from 'zod';
import { isValidChannel } from './channel-name.js';
import { findMember } from './raw-json.js';
import type { ErrorCode } from './errors.js';

/** A request id: a non-negative safe integer or a string of at most 64 characters, echoed back. */
const RequestId = z.union([z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), z.string().max(64)]);
const Key = z.string().min(1).max(128);

const SubRequest = z.object({
  op: z.literal('sub'),
  ch: z.string(),
  id: RequestId.optional(),
  since: z.object({ epoch: z.string().min(1).max(64), seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER) }).optional(),
  /** On a keyed channel: the latest value of every key first, then the live stream (docs/keyed.md). */
  snapshot: z.boolean().optional(),
  /** On a keyed channel: at most this many updates per key per second, the newest (docs/keyed.md). */
  maxRate: z.number().positive().max(1000).optional(),
  /** With maxRate: a value that waited longer is dropped (`expired` gap); 0 = never. */
  maxStalenessMs: z.number().int().min(0).max(3_600_000).optional(),
  /** On a delta channel: a change of a key whose previous value this client holds comes as a delta (docs/keyed.md). */
  delta: z.boolean().optional(),
  /** Presence channels (docs/presence.md): receive join/leave and occupancy events, or occupancy only. */
  presence: z.boolean().optional(),
  occupancy: z.boolean().optional(),
  /** The member's info, a JSON object bounded by the channel's `maxInfoBytes`. */
  info: z.record(z.string(), z.unknown()).optional(),
});
const UnsubRequest = z.object({ op: z.literal('unsub'), ch: z.string(), id: RequestId.optional() });
const PubRequest = z.object({
  op: z.literal('pub'),
  ch: z.string(),
  id: RequestId.optional(),
  key: Key.optional(),
  /** The publication's id: a retry with the same pid is published at most once (see docs/protocol.md). */
  pid: z.string().min(1).max(64).optional(),
  /** Deletes `key` from a keyed channel's state; `data` may then be left out. */
  del: z.literal(true).optional(),
  /** Required (checked on the raw text, see decodeRequest), except with `del`. */
  data: z.unknown().optional(),
});
/** A page of a presence channel's members; `cursor` continues a listing (docs/presence.md). */
const PresenceRequest = z.object({
  op: z.literal('presence'),
  ch: z.string(),
  id: RequestId.optional(),
  cursor: z.string().max(64).optional(),
  limit: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
});
/** The latest value of one key of a keyed channel the client is subscribed to, outside the stream (docs/keyed.md). */
const FetchRequest = z.object({ op: z.literal('fetch'), ch: z.string(), id: RequestId.optional(), key: Key });
const OccupancyRequest = z.object({ op: z.literal('occupancy'), ch: z.string(), id: RequestId.optional() });
const PingRequest = z.object({ op: z.literal('ping'), id: RequestId.optional() });
/** Replaces the connection's token before it expires (see docs/security.md). */
const AuthRequest = z.object({ op: z.literal('auth'), token: z.string().min(1).max(65_536), id: RequestId.optional() });
const Bytes = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** Asks for a receive window of `bytes` (docs/protocol.md, "a receive window"); the `id` is required: the count starts at its ack. */
const WindowRequest = z.object({ op: z.literal('window'), bytes: Bytes, id: RequestId });
/** The client's running count of what it received since the window's ack. */
const RecvRequest = z.object({ op: z.literal('recv'), bytes: Bytes, id: RequestId.optional() });

const Request = z.discriminatedUnion('op', [SubRequest, UnsubRequest, PubRequest, PingRequest, AuthRequest, PresenceRequest, OccupancyRequest, FetchRequest, WindowRequest, RecvRequest]);

export type RequestId = z.infer<typeof RequestId>;
export type SubRequest = z.infer<typeof SubRequest>;
export type UnsubRequest = z.infer<typeof UnsubRequest>;
export type PingRequest = z.infer<typeof PingRequest>;
export type AuthRequest = z.infer<typeof AuthRequest>;
export type PresenceRequest = z.infer<typeof PresenceRequest>;
export type OccupancyRequest = z.infer<typeof OccupancyRequest>;
export type FetchRequest = z.infer<typeof FetchRequest>;
export type WindowRequest = z.infer<typeof WindowRequest>;
export type RecvRequest = z.infer<typeof RecvRequest>;
/** A publish request; `rawData` is the `data` member's JSON text exactly as the client sent it. */
export type PubRequest = Omit<z.infer<typeof PubRequest>, 'data'> & { rawData: string };
export type ClientRequest = SubRequest | UnsubRequest | PubRequest | PingRequest | AuthRequest | PresenceRequest | OccupancyRequest | FetchRequest | WindowRequest | RecvRequest;

export type DecodeResult =
  | { ok: true; request: ClientRequest }
  | { ok: false; code: ErrorCode; message: string; id?: RequestId };

/** Every request's fields, by op (docs/protocol.md documents each; the drift test checks it). */
export const REQUEST_FIELDS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  Request.options.map((schema) => [schema.shape.op.value, Object.keys(schema.shape)]),
);

const OPS = new Set(Object.keys(REQUEST_FIELDS));

/**
 * `value` if it is a valid request id (as `RequestId` checks it), else undefined: by hand, since
 * it is read from every request and from every refused frame (a flood's refusals come in the
 * hundreds per turn, and the schema's checks cost several times as much in code not yet optimised).
 */
function requestIdOf(value: unknown): RequestId | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= Number.MAX_SAFE_INTEGER ? value : undefined;
  if (typeof value === 'string') return value.length <= 64 ? value : undefined;
  return undefined;
}

/** Decodes one client text frame. Never throws: every bad input maps to a catalogue error. */
export function decodeRequest(text: string): DecodeResult {
  const frame = frameOf(text);
  if ('ok' in frame) return frame;
  if (frame.obj.op === 'pub') {
    const fast = publishOf(frame.obj, frame.id, text);
    if (fast !== undefined) return fast;
  } else if (frame.obj.op === 'recv') {
    const fast = recvOf(frame.obj, frame.id);
    if (fast !== undefined) return fast;
  }
  return bySchema(frame.obj, frame.id, text);
}

/** `decodeRequest` with every op checked by its schema, the publish fast path left out: what the fast path is held to (test/protocol/requests.test.ts). */
export function decodeRequestBySchema(text: string): DecodeResult {
  const frame = frameOf(text);
  return 'ok' in frame ? frame : bySchema(frame.obj, frame.id, text);
}

/** The frame as a JSON object with a known op, and its id if valid; else the error. */
function frameOf(text: string): { obj: Record<string, unknown>; id: RequestId | undefined } | Extract<DecodeResult, { ok: false }> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'bad_json', message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'bad_frame', message: 'frame must be a JSON object' };
  }
  const obj = value as Record<string, unknown>;
  const id = requestIdOf(obj.id);
  if (typeof obj.op !== 'string' || !OPS.has(obj.op)) {
    return { ok: false, code: 'unknown_op', message: `unknown op ${JSON.stringify(obj.op ?? null).slice(0, 40)}`, id };
  }
  return { obj, id };
}

/**
 * A publish request whose fields all pass, decoded by hand: publications are most of what a
 * gateway reads, and at low rates each meets cold code, where the schema's checks were a quarter of
 * a publication's request path (perf, 100 msg/s). Undefined when any field is bad, so that the
 * schema finds and words the error; the same result as `bySchema` (test/protocol/requests.test.ts
 * checks the two on generated frames, through `decodeRequestBySchema`). Unknown fields are left out, as the schema strips them.
 */
function publishOf(obj: Record<string, unknown>, id: RequestId | undefined, text: string): DecodeResult | undefined {
  const { ch, key, pid, del } = obj;
  if (typeof ch !== 'string' || (obj.id !== undefined && id === undefined)) return undefined;
  if (key !== undefined && (typeof key !== 'string' || key.length < 1 || key.length > 128)) return undefined;
  if (pid !== undefined && (typeof pid !== 'string' || pid.length < 1 || pid.length > 64)) return undefined;
  if (del !== undefined && del !== true) return undefined;
  const request: PubRequest = { op: 'pub', ch, rawData: 'null' };
  if (id !== undefined) request.id = id;
  if (key !== undefined) request.key = key;
  if (pid !== undefined) request.pid = pid;
  if (del === true) request.del = true;
  return checkedPublish(request, text, id);
}

/**
 * A receive window's report whose fields pass, decoded by hand: a windowed client sends one per half
 * window it reads (at 1.8k msg/s × 1 KiB and a 256 KiB window, 14 a second per subscriber), and the
 * schema's checks of the whole request union cost several µs each. Undefined otherwise (the schema
 * words the error); held to `bySchema` like `publishOf` (test/protocol/requests.test.ts).
 */
function recvOf(obj: Record<string, unknown>, id: RequestId | undefined): DecodeResult | undefined {
  const { bytes } = obj;
  if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 0 || bytes > Number.MAX_SAFE_INTEGER || (obj.id !== undefined && id === undefined)) return undefined;
  const request: RecvRequest = { op: 'recv', bytes };
  if (id !== undefined) request.id = id;
  return { ok: true, request };
}

/** A publish request's checks beyond its fields' own, and its raw data taken from the text. */
function checkedPublish(request: PubRequest, text: string, id: RequestId | undefined): DecodeResult {
  if (!isValidChannel(request.ch)) return badChannel(id);
  if (request.del === true && request.key === undefined) return { ok: false, code: 'bad_frame', message: 'key: required with del', id };
  const range = findMember(text, 'data');
  if (range === undefined && request.del !== true) return { ok: false, code: 'bad_frame', message: 'data: required', id };
  if (range !== undefined) request.rawData = text.slice(range[0], range[1]);
  return { ok: true, request };
}

/** The refusal of a frame whose channel name is not valid. */
const badChannel = (id: RequestId | undefined): DecodeResult => ({ ok: false, code: 'bad_channel', message: 'channel must match [A-Za-z0-9_.:@-]{1,128}', id });

/** Any request, checked by its schema. */
function bySchema(obj: Record<string, unknown>, id: RequestId | undefined, text: string): DecodeResult {
  const parsed = Request.safeParse(obj);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(frame)';
    return { ok: false, code: 'bad_frame', message: `${path}: ${issue?.message ?? 'invalid'}`, id };
  }
  const request = parsed.data;
  if (request.op === 'pub') {
    const { data: _data, ...rest } = request;
    return checkedPublish({ ...rest, rawData: 'null' }, text, id);
  }
  if ('ch' in request && !isValidChannel(request.ch)) return badChannel(id);
  return { ok: true, request };
}

/**
 * The request id of a frame that will not be processed (e.g. rate-limited), so the client can
 * match the refusal to its request. Undefined when the frame has no readable id.
 */
export function peekRequestId(text: string): RequestId | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    return requestIdOf((value as { id?: unknown }).id);
  } catch {
    return undefined;
  }
}
