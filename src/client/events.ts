import type { SluiceError } from './errors.js';

/** What the server announced in `hello`. */
export interface ServerLimits {
  readonly maxPayloadBytes: number;
  readonly maxSubscriptions: number;
  readonly messagesPerSecond: number;
  readonly bytesPerSecond: number;
  readonly inboundMode: string;
}

export type ClientState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface ClientEvents {
  /** A connection attempt starts (`attempt` counts since the last established connection). */
  connecting: { readonly attempt: number };
  /** `hello` received: subscriptions resume and buffered publishes go out. */
  connected: { readonly conn: string; readonly limits: ServerLimits };
  /** The connection closed or the attempt failed (1006 when no close frame was received). */
  disconnected: { readonly code: number; readonly reason: string; readonly willReconnect: boolean };
  /** The next attempt starts in `delayMs`. */
  reconnecting: { readonly delayMs: number; readonly attempt: number };
  /** The client stopped for good: `close()` was called or the server sent a terminal code. */
  closed: { readonly error?: SluiceError };
  /** Something failed outside any request: a throwing handler, an unreadable frame, getToken. */
  error: { readonly error: unknown };
}

type Listener<E extends keyof ClientEvents> = (event: ClientEvents[E]) => void;

/** A minimal typed event emitter (no Node `events` module, so it runs in browsers). */
export class Emitter {
  private readonly listeners: Partial<Record<keyof ClientEvents, Set<Listener<any>>>> = {};

  /** Adds a listener; returns the function that removes it. */
  on<E extends keyof ClientEvents>(event: E, listener: Listener<E>): () => void {
    const set = (this.listeners[event] ??= new Set());
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
    const set = this.listeners[event] as Set<Listener<E>> | undefined;
    if (set === undefined) return;
    for (const listener of set) {
      try {
        listener(payload);
      } catch (err) {
        if (event !== 'error') this.emit('error', { error: err });
      }
    }
  }

  /** The first of two events to happen. */
  race<A extends keyof ClientEvents, B extends keyof ClientEvents>(
    a: A,
    b: B,
  ): Promise<{ event: A; payload: ClientEvents[A] } | { event: B; payload: ClientEvents[B] }> {
    return new Promise((resolve) => {
      const offA = this.on(a, (payload) => {
        offA();
        offB();
        resolve({ event: a, payload });
      });
      const offB = this.on(b, (payload) => {
        offA();
        offB();
        resolve({ event: b, payload });
      });
    });
  }

  clear(): void {
    for (const key of Object.keys(this.listeners) as (keyof ClientEvents)[]) delete this.listeners[key];
  }
}
