import { isValidChannel } from '../protocol/channel-name.js';
import { BATCH_SUBPROTOCOL, EVENT_SEPARATOR } from '../protocol/batch.js';
import { CLOSE } from '../protocol/close-codes.js';
import { systemClock, type Clock } from '../util/clock.js';
import { ClientClosedError, ConnectionClosedError, ConnectionLostError, OfflineError, SluiceError, serverError } from './errors.js';
import { Emitter, type ClientEvents, type ClientState, type ServerLimits } from './events.js';
import { Heartbeat } from './heartbeat.js';
import type { ClientOptions } from './options.js';
import { Outbox } from './outbox.js';
import type { PublishAck } from './publish-queue.js';
import { ReceiveWindow, frameBytes, textBytes } from './receive-window.js';
import { Backoff, reconnectAction } from './reconnect.js';
import { Subscription, type AckFrame, type GapFrame, type MessageFrame, type SubscribeOptions, type SubscriptionOwner } from './subscription.js';
import type { SnapFrame } from './keyed-view.js';
import { handshake, tokenExpiry, TokenRefresher } from './token.js';
import { OPEN, resolveWebSocket, sendsHeaders, type WebSocketLike } from './transport.js';

export type { ClientOptions } from './options.js';

/** What a `hello` without `limits` is taken to mean: nothing announced, nothing paced. */
const DEFAULT_LIMITS: ServerLimits = { maxPayloadBytes: Number.MAX_SAFE_INTEGER, maxSubscriptions: Infinity, messagesPerSecond: 0, bytesPerSecond: 0, inboundMode: 'reject' };

/** Creates a client and starts connecting. */
export function createClient(url: string, options: ClientOptions = {}): SluiceClient {
  return new SluiceClient(url, options);
}

/**
 * A Sluice connection that survives disconnects: it reconnects by close-code band, resumes every
 * subscription from its last seq, and buffers publishes within fixed bounds. State machine:
 * connecting → connected → (reconnecting → connecting)* → closed.
 */
export class SluiceClient implements SubscriptionOwner {
  state: ClientState = 'connecting';
  /** `hello.limits` of the current (or last) connection. */
  limits: ServerLimits | undefined;
  /** Why the client closed, once it has. */
  closeError: SluiceError | undefined;
  readonly counters = { connects: 0, disconnects: 0, tokenRefreshes: 0 };
  private readonly emitter = new Emitter();
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly outbox: Outbox;
  private readonly subs = new Map<string, Subscription<any>>();
  private socket: WebSocketLike | undefined;
  private attempt = 0;
  private openedAt = 0;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly refresher: TokenRefresher;
  private readonly heartbeat: Heartbeat;
  /** The token of the current connection; an `auth` refresh replaces it. */
  private token: string | undefined;
  /** The receive window asked for on every connection (option `receiveWindowBytes`). */
  private readonly window: ReceiveWindow | undefined;

  constructor(
    readonly url: string,
    private readonly options: ClientOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.backoff = new Backoff(options.reconnect);
    this.outbox = new Outbox(this.clock, options.publishBuffer);
    this.window = options.receiveWindowBytes === undefined ? undefined : new ReceiveWindow(options.receiveWindowBytes, (total) => this.outbox.report(total));
    this.refresher = new TokenRefresher(options.getToken, options.refreshBeforeExpiryMs ?? 30_000, this.clock, {
      due: (token) => this.outbox.refreshAuth(token),
      failed: (error) => this.emitter.emit('error', { error }), // the 4001 at expiry reconnects with getToken
    });
    this.heartbeat = new Heartbeat(options.heartbeat ?? {}, this.clock, {
      // Skipped while an auth refresh is in flight (see pump()); its reply is traffic enough.
      ping: () => {
        if (!this.outbox.requests.blocked) this.outbox.send({ op: 'ping' }, { kind: 'ping' });
      },
      dead: () => {
        if (this.socket !== undefined) this.drop(this.socket);
        this.lost(CLOSE.dropped.code, 'no reply to ping');
      },
    });
    void this.connect();
  }

  on<E extends keyof ClientEvents>(event: E, listener: (event: ClientEvents[E]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  /** Resolves when connected (at once if already); rejects if the client closes first. */
  connected(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(this.closeError ?? new ClientClosedError());
    return this.emitter.race('connected', 'closed').then((outcome) => {
      if (outcome.event === 'closed') throw outcome.payload.error ?? new ClientClosedError();
    });
  }

  /**
   * The receive window of the current connection (option `receiveWindowBytes`), once the server
   * acknowledged it: its size, the bytes received since its ack (as the server counts them) and
   * the latest total reported to the server. Undefined otherwise.
   */
  get receiveWindow(): { readonly bytes: number; readonly received: number; readonly reported: number } | undefined {
    return this.window?.position;
  }

  /** Publishes held locally (waiting or awaiting their ack). */
  get buffered(): { messages: number; bytes: number } {
    return { messages: this.outbox.queue.size, bytes: this.outbox.queue.bytes };
  }

  subscribe<T = unknown>(channel: string, options: SubscribeOptions<T> = {}): Subscription<T> {
    if (this.state === 'closed') throw this.closeError ?? new ClientClosedError();
    if (!isValidChannel(channel)) throw new SluiceError('bad_channel', `invalid channel name: ${JSON.stringify(channel)}`);
    if (this.subs.has(channel)) throw new SluiceError('already_subscribed', `already subscribed to ${channel}`);
    const sub = new Subscription<T>(channel, options, this);
    this.subs.set(channel, sub);
    this.outbox.toSubscribe.add(sub);
    this.outbox.pump();
    return sub;
  }

  /** @internal Called by `Subscription.unsubscribe()`. */
  unsubscribe(sub: Subscription<any>): Promise<void> {
    sub.end();
    if (this.subs.get(sub.channel) === sub) this.subs.delete(sub.channel);
    const wasSent = !this.outbox.toSubscribe.delete(sub);
    if (!wasSent || this.state !== 'connected') return Promise.resolve();
    return new Promise((resolve) => this.outbox.send({ op: 'unsub', ch: sub.channel }, { kind: 'unsub', done: resolve }));
  }

  /**
   * @internal Sends a request once connected and resolves with its `ack` (rejects with the `err`,
   * `ConnectionLostError` if the connection drops first, `ClientClosedError` on close).
   */
  async query(frame: Record<string, unknown>): Promise<Record<string, any>> {
    await this.connected();
    return new Promise((resolve, reject) => this.outbox.send({ ...frame }, { kind: 'query', resolve, reject }));
  }

  /** @internal A user handler threw. */
  handlerFailed(error: unknown): void {
    this.emitter.emit('error', { error });
  }

  /**
   * Publishes `data` (any JSON value) to a channel. Resolves with the seq once the server
   * acknowledged it; rejects with a typed error (see errors.ts). Within the buffer bounds, a
   * publish made while disconnected waits for the connection (unless `offline: 'reject'`), and one
   * refused with `rate_limited` is retried after `retryMs`. On a keyed channel `key` is required
   * and `del: true` deletes it (docs/keyed.md).
   */
  publish(channel: string, data: unknown, options: { key?: string; del?: boolean } = {}): Promise<PublishAck> {
    if (this.state === 'closed') return Promise.reject(this.closeError ?? new ClientClosedError());
    if (this.state !== 'connected' && this.options.offline === 'reject') return Promise.reject(new OfflineError());
    return this.outbox.publish(channel, data, options);
  }

  /** Stops for good: closes the connection, cancels timers, ends subscriptions, rejects pending publishes. */
  close(): void {
    this.shutDown(undefined);
  }

  // ---- connection lifecycle ----

  private async connect(): Promise<void> {
    this.state = 'connecting';
    this.attempt++;
    this.emitter.emit('connecting', { attempt: this.attempt });
    let socket: WebSocketLike;
    try {
      const Impl = await resolveWebSocket(this.options.WebSocket);
      const token = this.options.getToken !== undefined ? await this.options.getToken() : this.options.token;
      if (this.state !== 'connecting') return;
      const { url, protocols, headers } = handshake(this.url, token, this.options.tokenVia ?? (sendsHeaders(Impl) ? 'header' : 'protocol'), this.options.batch ?? true);
      socket = headers !== undefined ? new Impl(url, protocols ?? [], { headers }) : protocols === undefined ? new Impl(url) : new Impl(url, protocols);
      this.token = token;
    } catch (error) {
      if (this.state !== 'connecting') return;
      this.emitter.emit('error', { error });
      this.lost(CLOSE.dropped.code, error instanceof Error ? error.message : String(error));
      return;
    }
    this.socket = socket;
    socket.onmessage = (event) => this.onFrame(socket, event.data);
    socket.onclose = (event) => this.onSocketClose(socket, event.code, event.reason);
    socket.onerror = () => {}; // a close event follows every error
    this.connectTimer = setTimeout(() => {
      this.drop(socket);
      this.lost(CLOSE.dropped.code, 'connect timeout');
    }, this.options.connectTimeoutMs ?? 10_000);
  }

  /**
   * A frame: one event, or on a connection that selected `sluice.batch` several, one per line.
   * With a receive window it counts as the server counts it: its bytes plus one (a batch frame of
   * n events: the events' bytes, each plus one), from the window's ack on, the ack included.
   */
  private onFrame(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket) return;
    this.heartbeat.heard();
    const text = String(data);
    const window = this.window;
    const counted = window?.counting === true;
    const ackAt = this.dispatch(socket, text, window !== undefined && !counted);
    if (counted) window!.add(frameBytes(data, text) + 1);
    // The window's ack was in this frame: the events from it on count.
    else if (ackAt >= 0) window!.add((ackAt === 0 ? frameBytes(data, text) : textBytes(text.slice(ackAt))) + 1);
  }

  /**
   * Handles a frame's events in order. `watch`: returns where, in `text`, the event that started
   * the receive window's count begins (-1: none did).
   */
  private dispatch(socket: WebSocketLike, text: string, watch: boolean): number {
    if (socket.protocol !== BATCH_SUBPROTOCOL) {
      this.onEvent(text);
      return watch && this.window!.counting ? 0 : -1;
    }
    let ackAt = -1;
    let start = 0;
    // An event may end the connection (a hello after close(), an error): what follows it is for no one.
    while (socket === this.socket) {
      const end = text.indexOf(EVENT_SEPARATOR, start);
      this.onEvent(end < 0 ? text.slice(start) : text.slice(start, end));
      if (watch && ackAt < 0 && this.window!.counting) ackAt = start;
      if (end < 0) break;
      start = end + 1;
    }
    return ackAt;
  }

  private onEvent(data: string): void {
    try {
      const frame = JSON.parse(data) as Record<string, any>;
      switch (frame.ev) {
        case 'msg':
          this.subs.get(frame.ch)?.message(frame as MessageFrame, data);
          break;
        case 'gap':
          this.subs.get(frame.ch)?.gap(frame as GapFrame);
          break;
        case 'snap':
          this.subs.get(frame.ch)?.snapshotChunk(frame as SnapFrame);
          break;
        case 'presence':
        case 'occupancy':
          this.subs.get(frame.ch)?.presenceFrame(frame);
          break;
        case 'err':
          if (frame.id === undefined) this.onUnsolicitedError(frame);
          else this.onReply(frame);
          break;
        case 'ack':
        case 'pong':
          this.onReply(frame);
          break;
        case 'hello':
          this.onHello(frame);
          break;
      }
    } catch (error) {
      // An unreadable frame (or a bug) costs that frame, never the process.
      this.emitter.emit('error', { error });
    }
  }

  private onHello(frame: Record<string, any>): void {
    clearTimeout(this.connectTimer);
    this.limits = { ...DEFAULT_LIMITS, ...(frame.limits as Partial<ServerLimits> | undefined) };
    this.outbox.attach(this.socket!, this.limits);
    // The window first: its ack then precedes every subscription's frames.
    if (this.window !== undefined) this.outbox.askWindow(this.window.bytes);
    this.state = 'connected';
    this.attempt = 0;
    this.openedAt = this.clock();
    this.counters.connects++;
    for (const sub of this.subs.values()) this.outbox.toSubscribe.add(sub);
    this.emitter.emit('connected', { conn: String(frame.conn), limits: this.limits });
    this.refresher.arm(this.token === undefined ? undefined : tokenExpiry(this.token));
    this.heartbeat.start();
    this.outbox.pump();
  }

  /**
   * An `err` that answers no request. One naming a channel ends that subscription (the server
   * removed it: a refreshed token no longer covers it); one naming a channel no longer subscribed
   * concerns nothing left; any other is reported as an `error` event.
   */
  private onUnsolicitedError(frame: Record<string, any>): void {
    const error = serverError(frame);
    // Every request carries an id but `recv`: this refused a report. The next one (the total now) goes after the pause.
    if (error.code === 'rate_limited' && this.window?.counting === true) {
      this.outbox.rateLimited(this.limits!, error.retryMs ?? 0);
      return this.window.reportNow();
    }
    if (typeof frame.ch !== 'string') return this.emitter.emit('error', { error });
    const sub = this.subs.get(frame.ch);
    if (sub === undefined) return;
    this.subs.delete(sub.channel);
    this.outbox.toSubscribe.delete(sub);
    sub.failed(error);
  }

  private onReply(frame: Record<string, any>): void {
    const taken = this.outbox.requests.take(frame as { id?: unknown });
    if (taken === undefined) {
      if (frame.ev === 'err') this.emitter.emit('error', { error: serverError(frame) });
      return;
    }
    const { id, pending } = taken;
    const error = frame.ev === 'err' ? serverError(frame) : undefined;
    if (error?.code === 'rate_limited') this.outbox.rateLimited(this.limits!, error.retryMs ?? 0);
    switch (pending.kind) {
      case 'pub':
        this.outbox.published(id, frame, error);
        break;
      case 'sub':
        if (pending.sub.state === 'ended') break;
        if (error === undefined) pending.sub.acknowledged(frame as AckFrame);
        else if (error.code === 'rate_limited') this.outbox.toSubscribe.add(pending.sub);
        else if (error.code !== 'shutting_down') {
          this.subs.delete(pending.sub.channel);
          pending.sub.failed(error);
        } // shutting_down: the 4200 that follows resubscribes on the next node
        break;
      case 'unsub':
        pending.done();
        break;
      case 'ping':
        break;
      case 'window':
        if (error === undefined) this.window?.start(typeof frame.window === 'number' ? frame.window : pending.bytes);
        else if (error.code === 'rate_limited') this.outbox.askWindow(pending.bytes);
        else if (error.code !== 'shutting_down') this.emitter.emit('error', { error }); // bad_window: the connection goes on without a window
        break;
      case 'query':
        if (error === undefined) pending.resolve(frame);
        else pending.reject(error);
        break;
      case 'auth':
        if (error === undefined) {
          this.token = pending.token;
          this.counters.tokenRefreshes++;
          this.refresher.arm(typeof frame.exp === 'number' ? frame.exp * 1000 : tokenExpiry(pending.token));
        } else if (error.code === 'rate_limited' || error.code === 'too_many_requests') {
          this.outbox.retryAuth(pending.token);
        } else {
          this.emitter.emit('error', { error }); // the server closes with 4001 at expiry; the reconnect asks getToken again
        }
        break;
    }
    this.outbox.pump();
  }

  private onSocketClose(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.drop(socket);
    this.lost(code, reason);
  }

  /** Forgets a socket: no event of it is handled any more. */
  private drop(socket: WebSocketLike): void {
    socket.onmessage = socket.onclose = null;
    if (socket.readyState === OPEN || socket.readyState === 0) {
      try {
        socket.close(CLOSE.normal.code);
      } catch {
        // closing a socket that never opened may throw in some implementations; it is gone either way
      }
    }
    if (this.socket === socket) this.socket = undefined;
  }

  /** The connection (or the attempt) ended with `code`: decide by band whether and when to reconnect. */
  private lost(code: number, reason: string): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.clearTimers();
    if (wasConnected) {
      this.counters.disconnects++;
      this.backoff.connectionLasted(this.clock() - this.openedAt);
    }
    for (const [id, pending] of this.outbox.requests.drain()) {
      if (pending.kind === 'unsub') pending.done();
      else if (pending.kind === 'pub') this.outbox.queue.settle(id)?.reject(new ConnectionLostError(code));
      else if (pending.kind === 'query') pending.reject(new ConnectionLostError(code));
    }
    for (const sub of this.subs.values()) sub.disconnected();
    let action = this.options.reconnect?.enabled === false ? 'stop' : reconnectAction(code);
    // An expired token is terminal only for a client that cannot fetch another one.
    if (code === CLOSE.unauthorized.code && this.options.getToken !== undefined && action === 'stop') action = 'backoff';
    this.emitter.emit('disconnected', { code, reason, willReconnect: action !== 'stop' });
    if (action === 'stop') return this.shutDown(new ConnectionClosedError(code, reason));
    if (this.options.offline === 'reject') for (const entry of this.outbox.queue.takeWaiting()) entry.reject(new OfflineError());
    const delayMs = action === 'immediate' ? 0 : this.backoff.next();
    this.state = 'reconnecting';
    this.emitter.emit('reconnecting', { delayMs, attempt: this.attempt + 1 });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delayMs);
  }

  private shutDown(error: SluiceError | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeError = error;
    this.clearTimers();
    if (this.socket !== undefined) this.drop(this.socket);
    const reason = error ?? new ClientClosedError();
    for (const entry of [...this.outbox.queue.takeInFlight(), ...this.outbox.queue.takeWaiting()]) entry.reject(reason);
    for (const [, pending] of this.outbox.requests.drain()) if (pending.kind === 'query') pending.reject(reason);
    for (const sub of this.subs.values()) sub.end();
    this.subs.clear();
    this.emitter.emit('closed', error === undefined ? {} : { error });
    this.emitter.clear();
  }

  private clearTimers(): void {
    clearTimeout(this.connectTimer);
    clearTimeout(this.reconnectTimer);
    this.outbox.detach();
    this.refresher.cancel();
    this.heartbeat.stop();
    this.window?.stop(); // the next connection asks again, and counts from its own ack
    this.connectTimer = this.reconnectTimer = undefined;
  }
}
