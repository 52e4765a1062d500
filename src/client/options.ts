import type { Clock } from '../util/clock.js';
import type { HeartbeatOptions } from './heartbeat.js';
import type { PublishLimits } from './publish-queue.js';
import type { BackoffOptions } from './reconnect.js';
import type { TokenTransport } from './token.js';
import type { WebSocketConstructor } from './transport.js';

/** Everything `createClient` accepts; every field is optional. */
export interface ClientOptions {
  /** A fixed token, sent in the handshake (`tokenVia`). */
  token?: string;
  /**
   * Called before every connection attempt, and again `refreshBeforeExpiryMs` before a JWT's `exp`
   * to refresh it in band; wins over `token`. With it, a 4001 (token expired) reconnects.
   */
  getToken?: () => string | Promise<string>;
  /**
   * How the token travels in the handshake: `header` (the default where the WebSocket can send
   * headers, i.e. the `ws` package in Node), `protocol` (the default elsewhere, e.g. browsers) or
   * `query` (only if the server sets `auth.queryParam`).
   */
  tokenVia?: TokenTransport;
  /** How long before a JWT's `exp` to refresh it in band (ms). Default 30 000. */
  refreshBeforeExpiryMs?: number;
  /** Reconnect backoff (41xx, 1006, failed attempts). `enabled: false` never reconnects. */
  reconnect?: BackoffOptions & { enabled?: boolean };
  /** Dead-connection detection with app-level pings when the line is quiet. */
  heartbeat?: HeartbeatOptions;
  /** An attempt that has not received `hello` after this long is abandoned (ms). Default 10 000. */
  connectTimeoutMs?: number;
  /** Bounds of the local publish buffer. */
  publishBuffer?: PublishLimits;
  /** Publishes made while not connected: `buffer` them (default, within the bounds) or `reject` them. */
  offline?: 'buffer' | 'reject';
  /**
   * Offer the `sluice.batch` subprotocol, so that the server may send several events in one frame
   * (fewer frames to parse and dispatch at high rates). Default true; false: one event per frame.
   */
  batch?: boolean;
  /**
   * Ask the server for a receive window of this many bytes on every connection (docs/protocol.md,
   * `window`; docs/client.md): the server then writes at most that much ahead of what this client
   * has read, and the channel's policy acts on the rest. The client reports what it read (`recv`)
   * every half window. Default: none (the kernel's buffers are the only bound).
   */
  receiveWindowBytes?: number;
  /** A WebSocket implementation; default globalThis.WebSocket, else the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** Injected by tests. */
  clock?: Clock;
}
