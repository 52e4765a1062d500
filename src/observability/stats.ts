import type { ShedReason } from '../protocol/policy.js';

/**
 * Plain counters bumped on the hot path (a number increment, no labels, no allocation).
 * /metrics, the health summary and logs read them; they are the single source of truth.
 */
export class Stats {
  connectionsOpened = 0;
  connectionsRejected = 0;
  messagesIn = 0;
  bytesIn = 0;
  /** Data and control frames written to sockets. */
  messagesOut = 0;
  bytesOut = 0;
  /** Of messagesOut: publications written as their delta frame (docs/keyed.md). */
  deltasOut = 0;
  shed: Record<ShedReason, number> = { dropped: 0, conflated: 0, expired: 0 };
  gapFrames = 0;
  rateLimited = 0;
  inboundPauses = 0;
  /** Times a connection stopped reading its requests, by cause (see session/connection.ts). */
  readonly readPauses = { publish_window: 0, replies: 0, subscription_order: 0, subscribes_per_turn: 0, frames_per_turn: 0, inbound_ms_per_turn: 0, http_body_bytes_per_turn: 0 };
  invalidFrames = 0;
  /** Times a socket crossed its high-water mark and writes started queueing. */
  backpressureEvents = 0;
  /** Times a connection's receive window filled (docs/protocol.md, `window`) and its data started queueing. */
  windowWaits = 0;
  /** Upgrades refused by admission limits (origin, capacity, per-IP limits). */
  upgradesRefused = 0;
  /** Upgrades and in-band refreshes refused for a missing or invalid token. */
  authFailures = 0;
  /** Subscribe/publish requests refused by channel permissions. */
  forbidden = 0;
  /** Publications accepted by the HTTP publish API. */
  apiPublications = 0;
  readonly closesByCode = new Map<number, number>();
  /** Plain HTTP requests being served now (bounded by limits.maxHttpRequests). */
  httpRequestsInProgress = 0;
  /** Plain HTTP requests refused because limits.maxHttpRequests were in progress. */
  httpRequestsRefused = 0;

  countClose(code: number): void {
    this.closesByCode.set(code, (this.closesByCode.get(code) ?? 0) + 1);
  }
}
