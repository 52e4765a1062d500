import { BATCH_SUBPROTOCOL } from '../protocol/batch.js';
import type { Clock } from '../util/clock.js';

/**
 * Tokens as the client handles them: how one travels in the handshake, when it expires, and when
 * to refresh it in band (`{"op":"auth"}`) so the server never closes the connection with 4001.
 */

/**
 * How the token travels: `header` (`Authorization: Bearer`, only where the WebSocket can set
 * headers: the `ws` package), `protocol` (the `bearer.<jwt>` subprotocol, for browsers) or `query`
 * (`?token=`, which proxies' access logs keep; the server accepts it only when configured to).
 * Neither `header` nor `protocol` is logged by proxies.
 */
export type TokenTransport = 'header' | 'protocol' | 'query';

/**
 * The URL, subprotocols and headers of a handshake carrying `token`; with `batch`, the client offers
 * `sluice.batch` (after `sluice`, which a server that does not know it selects).
 */
export function handshake(url: string, token: string | undefined, via: TokenTransport, batch = false): { url: string; protocols?: string[]; headers?: Record<string, string> } {
  const offered = batch ? ['sluice', BATCH_SUBPROTOCOL] : undefined;
  if (token === undefined) return { url, protocols: offered };
  if (via === 'header') return { url, protocols: offered, headers: { Authorization: `Bearer ${token}` } };
  if (via === 'protocol') return { url, protocols: [...(offered ?? ['sluice']), `bearer.${token}`] };
  const u = new URL(url);
  u.searchParams.set('token', token);
  return { url: u.toString(), protocols: offered };
}

/** The `exp` of a JWT in ms since the epoch, read without verifying (the server verifies); undefined if not a JWT with `exp`. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/')) as string;
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long to wait before refreshing a token that expires at `expMs`: `leadMs` ahead of expiry,
 * but never more than half the remaining lifetime ahead, so short-lived tokens are not refreshed
 * in a tight loop.
 */
export function refreshDelay(expMs: number, nowMs: number, leadMs: number): number {
  const remaining = expMs - nowMs;
  return Math.max(0, remaining - Math.min(leadMs, remaining / 2));
}

/**
 * The one timer that refreshes a token before it expires: when due it asks `getToken` and hands the
 * result to the client, which sends it with `auth`. Without `getToken` or a known expiry it never arms.
 */
export class TokenRefresher {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly getToken: (() => string | Promise<string>) | undefined,
    private readonly leadMs: number,
    private readonly clock: Clock,
    private readonly sink: { due(token: string): void; failed(error: unknown): void },
  ) {}

  arm(expMs: number | undefined): void {
    this.cancel();
    const getToken = this.getToken;
    if (getToken === undefined || expMs === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      Promise.resolve()
        .then(getToken)
        .then(
          (token) => this.sink.due(token),
          (error: unknown) => this.sink.failed(error),
        );
    }, refreshDelay(expMs, this.clock(), this.leadMs));
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
