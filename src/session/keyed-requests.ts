import type { Hub } from '../hub/hub.js';
import type { ErrorCode } from '../protocol/errors.js';
import { encodeFetchAck } from '../protocol/frames.js';
import type { FetchRequest, RequestId, SubRequest } from '../protocol/requests.js';
import { DeltaTracker } from './delta-tracker.js';
import type { DeliveryContracts, PacedSink } from './key-pacer.js';
import type { Subscription } from './subscription.js';

/** What the keyed requests need of a connection. */
export interface KeyedRequester {
  readonly isClosing: boolean;
  subscriptionOf(channel: string): Subscription | undefined;
  sendControl(text: string): void;
  sendError(code: ErrorCode, id?: RequestId): void;
}

/**
 * A `sub` on a keyed channel (docs/keyed.md): whether it keeps the state (`snapshot`), its delivery
 * contract (`maxRate`) and, on a delta channel, its delta tracker (`delta`). None applies elsewhere.
 */
export function setUpKeyed(sub: Subscription, request: SubRequest, contracts: DeliveryContracts, out: PacedSink): void {
  sub.pacer = contracts.pacerFor(sub, request, out);
  sub.wantsState = request.snapshot === true && sub.channel.settings.keyed;
  const deltas = sub.channel.deltas;
  sub.delta = request.delta === true && deltas !== undefined ? new DeltaTracker(deltas.pool) : undefined;
}

/** What the ack of a keyed `sub` says was granted. */
export function keyedAckFields(sub: Subscription): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (sub.pacer !== undefined) Object.assign(fields, { maxRate: sub.pacer.rate, maxStalenessMs: sub.pacer.maxStalenessMs });
  if (sub.delta !== undefined) fields.delta = true;
  return fields;
}

/**
 * `fetch`: the latest value of one key, answered in its ack, outside the stream (a client whose
 * delta did not apply asks for it). From now on the subscription holds no value of that key for
 * deltas: its next change is written whole.
 */
export function fetchKey(conn: KeyedRequester, hub: Hub, request: FetchRequest): void {
  const sub = conn.subscriptionOf(request.ch);
  if (sub === undefined) return conn.sendError('not_subscribed', request.id);
  if (!sub.channel.settings.keyed) return conn.sendError('not_keyed', request.id);
  const deltas = sub.channel.deltas;
  if (deltas !== undefined) sub.delta?.forget(deltas.slotOf(request.key));
  const outcome = hub.latest(sub.channel, request.key);
  if (outcome instanceof Promise) void outcome.then((o) => answerFetch(conn, request, o));
  else answerFetch(conn, request, outcome);
}

function answerFetch(conn: KeyedRequester, request: FetchRequest, outcome: Awaited<ReturnType<Hub['latest']>>): void {
  if (conn.isClosing) return;
  if (!outcome.ok) conn.sendError(outcome.code, request.id);
  else conn.sendControl(encodeFetchAck(request.id, request.ch, request.key, outcome.epoch, outcome.seq, outcome.latest));
}
