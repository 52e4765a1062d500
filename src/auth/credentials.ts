import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest, UpgradeRequest } from '../net/http.js';
import { BATCH_SUBPROTOCOL } from '../protocol/batch.js';

/**
 * Every way a client presents a secret, read in one place: `Authorization: Bearer …`, a
 * `bearer.…` WebSocket subprotocol, a query parameter, a named header; and the constant-time
 * check of a presented key against the configured ones.
 */

/** The subprotocol prefix that carries a token: `Sec-WebSocket-Protocol: sluice, bearer.<jwt>`. */
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

/** RFC 6750 credentials: `Bearer` and one token without spaces. Undefined for any other scheme or shape. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  return /^[ \t]*Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1];
}

/**
 * The `bearer.…` entry of a subprotocol offer, and the subprotocol to select in the handshake
 * (browsers fail the connection without one): `sluice.batch` when offered and `batching` (the
 * selection turns batch frames on), else the first other entry, else the bearer entry itself.
 * `sluice.batch` is never selected without `batching`: offered alone, nothing is selected.
 */
export function subprotocolToken(offered: string | undefined, batching = false): { token: string | undefined; protocol: string | undefined } {
  if (offered === undefined) return { token: undefined, protocol: undefined };
  const entries = offered.split(',').map((s) => s.trim());
  const bearer = entries.find((e) => e.startsWith(BEARER_PROTOCOL_PREFIX));
  const batch = batching && entries.includes(BATCH_SUBPROTOCOL) ? BATCH_SUBPROTOCOL : undefined;
  const protocol = batch ?? entries.find((e) => e !== '' && e !== BATCH_SUBPROTOCOL && !e.startsWith(BEARER_PROTOCOL_PREFIX)) ?? bearer;
  return { token: bearer?.slice(BEARER_PROTOCOL_PREFIX.length), protocol };
}

/** A query parameter of a request URL; undefined when absent or when `name` is '' (reading disabled). */
export function queryToken(url: string, name: string): string | undefined {
  if (name === '') return undefined;
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get(name) ?? undefined;
}

export interface PresentedToken {
  /** The token, if the client presented one. */
  readonly token: string | undefined;
  /** The subprotocol to select in the handshake. */
  readonly protocol: string | undefined;
}

/**
 * Finds the connect token: `Authorization: Bearer …` first, then a `bearer.…` subprotocol entry
 * (the only header a browser's WebSocket can set), then the query parameter (leaks into access
 * logs; disable with auth.queryParam ''). An Authorization header of another shape yields an
 * empty token, refused like any invalid one, rather than anonymous access. `batching`: the server
 * sends batch frames to a client that offers them (see subprotocolToken).
 */
export function presentedToken(request: UpgradeRequest, queryParam: string, batching = false): PresentedToken {
  const authorization = request.headers.authorization;
  const offered = subprotocolToken(request.headers['sec-websocket-protocol'], batching);
  let token = authorization === undefined ? undefined : (bearerToken(authorization) ?? '');
  token ??= offered.token ?? queryToken(request.url, queryParam);
  return { token, protocol: offered.protocol };
}

/** Where a request may carry a key besides `Authorization: Bearer` (never a URL: access logs keep those). */
export interface KeyPlaces {
  /** A header named in lower case, e.g. `x-api-key`. */
  readonly header?: string;
}

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/**
 * A set of shared secrets (API keys, the admin key). A presented key is compared with every
 * configured one over fixed-length digests, so neither its content, its length nor which key it
 * matched leaks through timing.
 */
export class KeyCheck {
  private readonly digests: Buffer[];

  constructor(
    keys: readonly string[],
    private readonly places: KeyPlaces,
  ) {
    if (keys.some((k) => k.length === 0)) throw new Error('a key must not be empty');
    this.digests = keys.map(digest);
  }

  /** False when no key is configured: then nothing is allowed. */
  get enabled(): boolean {
    return this.digests.length > 0;
  }

  allows(request: HttpRequest): boolean {
    const presented = this.presented(request);
    if (presented === undefined) return false;
    const d = digest(presented);
    let ok = false;
    for (const key of this.digests) ok = timingSafeEqual(d, key) || ok;
    return ok;
  }

  private presented(request: HttpRequest): string | undefined {
    const { header } = this.places;
    return bearerToken(request.headers.authorization) ?? (header === undefined ? undefined : request.headers[header]);
  }
}
