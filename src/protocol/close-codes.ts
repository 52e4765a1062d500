/**
 * WebSocket close codes Sluice sends, in bands that tell a client what to do next:
 * - 4000–4099 terminal: do not reconnect (the same client would be refused again);
 * - 4100–4199 reconnect with exponential backoff and jitter;
 * - 4200–4299 reconnect at once (e.g. to another node).
 * Plus the standard codes a WebSocket library puts on the wire by itself for a broken frame, 1005
 * for a close frame without a code, and 1006 for a connection dropped without a close frame. These
 * are every code a peer can receive from Sluice: docs/protocol.md documents each entry; a test
 * fails when the two drift.
 */
export const CLOSE = {
  normal: { code: 1000, reason: 'normal closure' },
  protocol_error: { code: 1002, reason: 'protocol error' },
  no_status: { code: 1005, reason: 'close frame without a status code' },
  dropped: { code: 1006, reason: 'connection dropped without a close frame' },
  invalid_payload: { code: 1007, reason: 'invalid UTF-8' },
  policy_violation: { code: 1008, reason: 'message in too many fragments' },
  message_too_big: { code: 1009, reason: 'frame exceeds maxPayloadBytes' },
  bad_protocol: { code: 4000, reason: 'too many invalid frames' },
  unauthorized: { code: 4001, reason: 'unauthorized' },
  forbidden: { code: 4003, reason: 'forbidden' },
  slow_consumer: { code: 4100, reason: 'slow consumer' },
  rate_limit_strikes: { code: 4101, reason: 'rate limit strikes exhausted' },
  at_capacity: { code: 4102, reason: 'server at capacity' },
  idle_timeout: { code: 4103, reason: 'idle timeout' },
  backend_unavailable: { code: 4104, reason: 'application backend unavailable' },
  shutting_down: { code: 4200, reason: 'server shutting down' },
} as const satisfies Record<string, { code: number; reason: string }>;

export type CloseName = keyof typeof CLOSE;

export type CloseBand = 'terminal' | 'backoff' | 'immediate' | 'standard';

export function closeBand(code: number): CloseBand {
  if (code >= 4000 && code <= 4099) return 'terminal';
  if (code >= 4100 && code <= 4199) return 'backoff';
  if (code >= 4200 && code <= 4299) return 'immediate';
  return 'standard';
}
