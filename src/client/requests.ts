import type { Subscription } from './subscription.js';

/** What a request in flight is waiting for. */
export type Pending =
  | { kind: 'sub'; sub: Subscription<any> }
  | { kind: 'unsub'; done: () => void }
  | { kind: 'pub' }
  | { kind: 'auth'; token: string }
  | { kind: 'ping' }
  /** The receive window asked for on this connection (docs/protocol.md, `window`). */
  | { kind: 'window'; bytes: number }
  /** A request answered by an `ack` the caller reads (presence listings). */
  | { kind: 'query'; resolve: (ack: Record<string, any>) => void; reject: (error: unknown) => void };

/**
 * The requests of one connection awaiting their reply. Every request carries an id and gets
 * exactly one reply carrying it (even `rate_limited`, refused before the frame is processed), in
 * request order — except `auth`, verified asynchronously, whose reply may overtake later ones; so
 * nothing else is sent while an `auth` is in flight (`blocked`). An `err` without an id answers no
 * request (e.g. a subscription revoked by a token refresh).
 */
export class RequestLine {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private authInFlight = false;

  /** Ids grow with call order (the publish buffer relies on it). */
  newId(): number {
    return this.nextId++;
  }

  /** True while an `auth` awaits its reply: send nothing else. */
  get blocked(): boolean {
    return this.authInFlight;
  }

  /** Records a request about to be written; `request.id` is set when missing. Returns its text. */
  record(request: Record<string, unknown>, pending: Pending): string {
    const id = typeof request.id === 'number' ? request.id : (request.id = this.newId());
    this.pending.set(id as number, pending);
    if (pending.kind === 'auth') this.authInFlight = true;
    return JSON.stringify(request);
  }

  /** Records a publish whose frame (carrying `id`) was encoded earlier. */
  recordPublish(id: number): void {
    this.pending.set(id, { kind: 'pub' });
  }

  /** The request a reply answers, removed; undefined when it answers none we know. */
  take(frame: { id?: unknown }): { id: number; pending: Pending } | undefined {
    const id = frame.id;
    const pending = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (pending === undefined) return undefined;
    this.pending.delete(id as number);
    if (pending.kind === 'auth') this.authInFlight = false;
    return { id: id as number, pending };
  }

  /** Every request in flight, removed (the connection dropped or the client closed). */
  drain(): Array<[number, Pending]> {
    const all = [...this.pending];
    this.pending.clear();
    this.authInFlight = false;
    return all;
  }
}
