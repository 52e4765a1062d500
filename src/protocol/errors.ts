/**
 * The catalogue of error codes carried by `{"ev":"err"}` frames. Codes are stable strings and are
 * never reused for another meaning. `temporary` tells a client that the same request may succeed
 * if retried later. docs/protocol.md documents every entry; a test fails when the two drift.
 */
export const ERRORS = {
  bad_json: { temporary: false, message: 'frame is not valid JSON' },
  bad_frame: { temporary: false, message: 'frame is not a valid request' },
  unknown_op: { temporary: false, message: 'unknown op' },
  bad_channel: { temporary: false, message: 'invalid channel name' },
  binary_unsupported: { temporary: false, message: 'binary frames are not accepted; send JSON text frames' },
  rate_limited: { temporary: true, message: 'inbound rate limit exceeded' },
  too_many_subscriptions: { temporary: false, message: 'subscription limit per connection reached' },
  already_subscribed: { temporary: false, message: 'already subscribed to this channel' },
  not_subscribed: { temporary: false, message: 'not subscribed to this channel' },
  channel_limit: { temporary: true, message: 'server channel limit reached' },
  forbidden: { temporary: false, message: 'not allowed on this channel' },
  unauthorized: { temporary: false, message: 'token refused' },
  too_many_requests: { temporary: true, message: 'too many requests in flight on this connection' },
  unavailable: { temporary: true, message: 'the broker (Redis) cannot be reached; retry later' },
  publish_uncertain: { temporary: true, message: 'the broker (Redis) did not answer in time: the publication may have been published; retry with the same pid' },
  key_required: { temporary: false, message: 'a publication on a keyed channel needs a key' },
  not_keyed: { temporary: false, message: 'the channel is not keyed: it has no latest value per key to fetch' },
  key_limit: { temporary: false, message: "the keyed channel's state is full (maxKeys or keyedMaxBytes): the publication was not published" },
  shutting_down: { temporary: true, message: 'server is shutting down' },
  presence_off: { temporary: false, message: 'presence is not enabled on this channel' },
  member_limit: { temporary: true, message: 'the channel has its maximum number of members' },
  info_too_large: { temporary: false, message: 'member info exceeds the channel\'s maxInfoBytes' },
  cursor_expired: { temporary: false, message: 'the cursor is not known here (another node, or a restart); list again without it' },
  bad_window: { temporary: false, message: "the receive window's size is outside the server's bounds, or a recv total does not match what was written" },
  internal: { temporary: true, message: 'internal server error' },
} as const satisfies Record<string, { temporary: boolean; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];
