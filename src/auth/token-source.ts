import type { UpgradeRequest } from '../transport/transport.js';

/** The subprotocol prefix that carries a token: `Sec-WebSocket-Protocol: sluice, bearer.<jwt>`. */
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

export interface PresentedToken {
  /** The token, if the client presented one. */
  readonly token: string | undefined;
  /** The subprotocol to select in the handshake (browsers fail the connection without one). */
  readonly protocol: string | undefined;
}

/**
 * Finds the connect token: `Authorization: Bearer …` first, then a `bearer.…` subprotocol entry
 * (the only header a browser's WebSocket can set), then the query parameter (leaks into access
 * logs; disable with auth.queryParam '').
 */
export function presentedToken(request: UpgradeRequest, queryParam: string): PresentedToken {
  let token: string | undefined;
  let protocol: string | undefined;
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    token = m?.[1] ?? '';
  }
  const offered = request.headers['sec-websocket-protocol'];
  if (offered !== undefined) {
    const entries = offered.split(',').map((s) => s.trim());
    const bearer = entries.find((e) => e.startsWith(BEARER_PROTOCOL_PREFIX));
    protocol = entries.find((e) => e !== '' && !e.startsWith(BEARER_PROTOCOL_PREFIX)) ?? bearer;
    if (bearer !== undefined) token ??= bearer.slice(BEARER_PROTOCOL_PREFIX.length);
  }
  if (token === undefined && queryParam !== '') {
    const q = request.url.indexOf('?');
    if (q >= 0) token = new URLSearchParams(request.url.slice(q + 1)).get(queryParam) ?? undefined;
  }
  return { token, protocol };
}
