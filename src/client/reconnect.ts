import { closeBand } from '../protocol/close-codes.js';

/** What the client does after its connection closed with a given code. */
export type ReconnectAction = 'stop' | 'backoff' | 'immediate';

/**
 * The close-code bands of docs/protocol.md: 40xx terminal (never reconnect), 41xx back off, 42xx
 * reconnect at once. Everything else — 1006 (dropped without a close frame), 1000/1001 sent by a
 * server or proxy, 1009, 1011, a failed handshake — backs off, so a client can never hammer a
 * server that keeps refusing it.
 */
export function reconnectAction(code: number): ReconnectAction {
  switch (closeBand(code)) {
    case 'terminal':
      return 'stop';
    case 'immediate':
      return 'immediate';
    default:
      return 'backoff';
  }
}

export interface BackoffOptions {
  /** Ceiling of the first delay, ms. Default 250. */
  readonly initialDelayMs?: number;
  /** Largest ceiling, ms. Default 30 000. */
  readonly maxDelayMs?: number;
  /** Growth of the ceiling per failed attempt. Default 2. */
  readonly factor?: number;
  /**
   * A connection that stayed open at least this long resets the growth (ms). Default 10 000.
   * A server that accepts and then closes at once therefore still sees growing delays.
   */
  readonly resetAfterMs?: number;
  /** Uniform random in [0, 1); injected by tests. Default Math.random. */
  readonly random?: () => number;
}

/**
 * Exponential backoff with full jitter: attempt k (from 0) waits a uniform random time in
 * [0, min(maxDelayMs, initialDelayMs × factor^k)]. Full jitter spreads a crowd of clients that lost
 * the same server evenly instead of in synchronized waves.
 */
export class Backoff {
  private readonly initial: number;
  private readonly max: number;
  private readonly factor: number;
  readonly resetAfterMs: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.initial = options.initialDelayMs ?? 250;
    this.max = options.maxDelayMs ?? 30_000;
    this.factor = options.factor ?? 2;
    this.resetAfterMs = options.resetAfterMs ?? 10_000;
    this.random = options.random ?? Math.random;
    if (!(this.initial >= 0 && this.max >= this.initial && this.factor >= 1)) {
      throw new RangeError('backoff needs 0 <= initialDelayMs <= maxDelayMs and factor >= 1');
    }
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The ceiling the next delay is drawn under. */
  ceiling(): number {
    return Math.min(this.max, this.initial * this.factor ** this.attempt);
  }

  /** The delay before the next attempt; each call counts one more failed attempt. */
  next(): number {
    const delay = Math.floor(this.random() * this.ceiling());
    this.attempt++;
    return delay;
  }

  /** Called when a connection closes: one that lasted `resetAfterMs` starts the growth over. */
  connectionLasted(ms: number): void {
    if (ms >= this.resetAfterMs) this.attempt = 0;
  }

  reset(): void {
    this.attempt = 0;
  }
}
