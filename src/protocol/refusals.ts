/**
 * The catalogue of HTTP refusals: the statuses the gateway answers instead of a WebSocket upgrade,
 * and those of its HTTP endpoints (publish API, dashboard, health). With the wire error codes
 * (errors.ts) and the close codes (close-codes.ts) it is every refusal a client can meet. `reason`
 * is the body (the publish API wraps it as `{"error": …}`); a call site may give a more precise
 * one (a verifier's reason, the field a body got wrong). docs/protocol.md documents every entry;
 * a test fails when the two drift.
 */
export const HTTP_REFUSALS = {
  // Before the upgrade (also answered by the transport itself: malformed_request, bad_handshake, shutting_down, internal_error).
  malformed_request: { status: 400, reason: 'malformed HTTP request' },
  bad_handshake: { status: 400, reason: 'Missing or invalid Sec-WebSocket-Key or Sec-WebSocket-Version header' },
  unauthorized: { status: 401, reason: 'token required' },
  origin_not_allowed: { status: 403, reason: 'origin not allowed' },
  connecting_too_fast: { status: 429, reason: 'connecting too fast' },
  at_capacity: { status: 503, reason: 'server at capacity' },
  too_many_addresses: { status: 503, reason: 'too many client addresses' },
  too_many_from_address: { status: 503, reason: 'too many connections from this address' },
  shutting_down: { status: 503, reason: 'shutting down' },
  // The connect hook (the backend's own status, 400-499, replaces 403 when it gives one).
  connect_refused: { status: 403, reason: 'refused by the application' },
  backend_unavailable: { status: 503, reason: 'the application backend did not answer; retry later' },
  memory_pressure: { status: 503, reason: 'server under memory pressure; retry later' },
  // Any HTTP request.
  not_found: { status: 404, reason: 'not found' },
  method_not_allowed: { status: 405, reason: 'method not allowed' },
  body_too_large: { status: 413, reason: 'request body too large' },
  upgrade_required: { status: 426, reason: 'Sluice: connect with a WebSocket client; see docs/protocol.md' },
  not_ready: { status: 503, reason: 'not ready' },
  internal_error: { status: 500, reason: 'internal error' },
  too_many_requests: { status: 503, reason: 'too many HTTP requests in progress' },
  // The publish API.
  publish_api_off: { status: 404, reason: 'not found (the publish API is off: set httpApi.apiKeys)' },
  bad_body: { status: 400, reason: 'body: invalid' },
  api_key_refused: { status: 401, reason: 'missing or invalid API key' },
  unsupported_media_type: { status: 415, reason: 'send application/json' },
  publish_rate_limited: { status: 429, reason: 'publish rate limit exceeded' },
  overloaded: { status: 503, reason: 'outbound queues are full; retry later' },
  // The dashboard.
  admin_key_refused: { status: 401, reason: 'unauthorized: pass the admin key' },
  too_many_viewers: { status: 503, reason: 'too many dashboard viewers' },
} as const satisfies Record<string, { status: number; reason: string }>;

export type HttpRefusalName = keyof typeof HTTP_REFUSALS;

