import { createHmac } from 'node:crypto';
import type { Clock } from '../util/clock.js';

/**
 * How the gateway signs what it sends the application's backend (hook calls and webhook deliveries
 * alike): `X-Sluice-Timestamp` is the Unix time in seconds, `X-Sluice-Signature` is
 * `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. A receiver recomputes it over the raw body,
 * compares in constant time, and rejects a timestamp far from its clock (a replay).
 */
export const SIGNATURE_HEADER = 'x-sluice-signature';
export const TIMESTAMP_HEADER = 'x-sluice-timestamp';

/** The signature of one body sent at `timestamp` (Unix seconds). */
export function signature(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The two headers of a body sent now; none while `secret` is ''. */
export function signedHeaders(secret: string, clock: Clock, body: string): Record<string, string> {
  if (secret === '') return {};
  const timestamp = Math.floor(clock() / 1000);
  return { [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: signature(secret, timestamp, body) };
}
