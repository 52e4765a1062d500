import { CLOSE, closeBand, type CloseBand } from '../protocol/close-codes.js';
import { ERRORS, type ErrorCode } from '../protocol/errors.js';

/**
 * Typed errors of the client. Server errors carry the code of the server's catalogue
 * (src/protocol/errors.ts) and close errors the close code of src/protocol/close-codes.ts, both
 * imported so the client and the server cannot drift. Local errors have codes of their own.
 */
export type LocalErrorCode =
  | 'client_closed'
  | 'connection_closed'
  | 'connection_lost'
  | 'buffer_full'
  | 'offline'
  | 'payload_too_large';

export class SluiceError extends Error {
  override readonly name: string = 'SluiceError';
  constructor(
    readonly code: ErrorCode | LocalErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The server answered a request with `{"ev":"err"}`. */
export class ServerError extends SluiceError {
  override readonly name = 'ServerError';
  /** True when the same request may succeed later (from the server's catalogue). */
  readonly temporary: boolean;
  constructor(
    override readonly code: ErrorCode,
    message: string,
    readonly retryMs?: number,
  ) {
    super(code, message);
    this.temporary = ERRORS[code]?.temporary ?? false;
  }
}

/** `client.close()` was called: pending publishes and subscriptions end with this. */
export class ClientClosedError extends SluiceError {
  override readonly name = 'ClientClosedError';
  constructor() {
    super('client_closed', 'the client was closed');
  }
}

/**
 * The server closed the connection with a code of the terminal band (4000–4099): the client does
 * not reconnect, and everything pending ends with this error.
 */
export class ConnectionClosedError extends SluiceError {
  override readonly name = 'ConnectionClosedError';
  readonly band: CloseBand;
  constructor(
    readonly closeCode: number,
    readonly closeReason: string,
  ) {
    super('connection_closed', `connection closed by the server: ${closeCode}${closeReason ? ` ${closeReason}` : ''}`);
    this.band = closeBand(closeCode);
  }

  /** The catalogue name of the close code, when it is one Sluice sends. */
  get closeName(): string | undefined {
    return Object.entries(CLOSE).find(([, v]) => v.code === this.closeCode)?.[0];
  }
}

/**
 * The connection dropped while a publish was in flight: the server may or may not have accepted
 * it. It is not resent, since that could publish it twice.
 */
export class ConnectionLostError extends SluiceError {
  override readonly name = 'ConnectionLostError';
  constructor(readonly closeCode: number) {
    super('connection_lost', `connection lost (${closeCode}) before the publish was acknowledged; it may or may not have been published`);
  }
}

/** The local publish buffer (`publishBuffer.maxMessages` / `maxBytes`) is full. */
export class BufferFullError extends SluiceError {
  override readonly name = 'BufferFullError';
  constructor(limit: 'messages' | 'bytes', max: number) {
    super('buffer_full', `publish buffer full (${limit} limit ${max})`);
  }
}

/** A publish was made while disconnected and the client was created with `offline: 'reject'`. */
export class OfflineError extends SluiceError {
  override readonly name = 'OfflineError';
  constructor() {
    super('offline', 'not connected, and offline publishes are rejected (offline: "reject")');
  }
}

/** The frame would exceed the server's `maxPayloadBytes` (from `hello`); the server would close with 1009. */
export class PayloadTooLargeError extends SluiceError {
  override readonly name = 'PayloadTooLargeError';
  constructor(bytes: number, max: number) {
    super('payload_too_large', `frame of ${bytes} bytes exceeds the server's maxPayloadBytes (${max})`);
  }
}

/** Builds the typed error for an `err` frame; unknown codes (a newer server) become `internal`-like errors. */
export function serverError(frame: { code?: unknown; msg?: unknown; retryMs?: unknown }): ServerError {
  const code = (typeof frame.code === 'string' && frame.code in ERRORS ? frame.code : 'internal') as ErrorCode;
  const message = typeof frame.msg === 'string' ? frame.msg : ERRORS[code].message;
  return new ServerError(code, message, typeof frame.retryMs === 'number' ? frame.retryMs : undefined);
}
