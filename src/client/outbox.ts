import type { Clock } from '../util/clock.js';
import { PayloadTooLargeError, ServerError } from './errors.js';
import type { ServerLimits } from './events.js';
import { Pacer } from './pacer.js';
import { PublishQueue, utf8Length, type PublishAck, type PublishLimits } from './publish-queue.js';
import { RequestLine, type Pending } from './requests.js';
import type { Subscription } from './subscription.js';
import type { WebSocketLike } from './transport.js';

/** A frame no limits are known for yet is assumed to fit; the server checks it anyway. */
const UNKNOWN_PAYLOAD_LIMIT = Number.MAX_SAFE_INTEGER;

/** How long a publish the server may have published is sent again (with its pid) before it rejects `publish_uncertain`; well inside the server's default `broker.publicationIdTtlMs` (5 min). */
const UNCERTAIN_RETRY_FOR_MS = 60_000;
/** The pause before such a retry when the server named none. */
const UNCERTAIN_RETRY_DELAY_MS = 500;

/** A prefix unique to this client for its publications' ids (`pid`): random, then a counter per publish. */
function pidPrefix(): string {
  const bytes = new Uint8Array(9);
  if (globalThis.crypto?.getRandomValues !== undefined) globalThis.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return `${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}.`;
}

/**
 * What the client sends, and when: the requests awaiting their reply, the publish buffer, the
 * (re)subscriptions and token refresh due on this connection, and the pace the server asked for.
 * It sends only while attached to a connection that said `hello`; the client owns that lifecycle.
 */
export class Outbox {
  readonly requests = new RequestLine();
  readonly queue: PublishQueue;
  /** Subscriptions whose `sub` request must be (re)sent on this connection. */
  readonly toSubscribe = new Set<Subscription<any>>();
  /** `hello.limits.maxPayloadBytes` of the current (or last) connection. */
  private maxPayloadBytes = UNKNOWN_PAYLOAD_LIMIT;
  private socket: WebSocketLike | undefined;
  private pacer: Pacer;
  private pausedUntil = 0;
  private pumpTimer: ReturnType<typeof setTimeout> | undefined;
  /** A refreshed token to send with `auth`. */
  private authToSend: string | undefined;
  /** The receive window to ask for on this connection, before anything else. */
  private windowToAsk: number | undefined;
  /** The receive window's latest total not yet reported (`recv`). */
  private recvToSend: number | undefined;
  private readonly pidPrefix = pidPrefix();

  constructor(
    private readonly clock: Clock,
    publishBuffer: PublishLimits | undefined,
  ) {
    this.queue = new PublishQueue(publishBuffer);
    this.pacer = new Pacer(clock, 0);
  }

  /** The connection said `hello`: send on it, paced afresh. */
  attach(socket: WebSocketLike, limits: ServerLimits): void {
    this.socket = socket;
    this.maxPayloadBytes = limits.maxPayloadBytes;
    this.pacer = new Pacer(this.clock, limits.maxPayloadBytes);
    this.pausedUntil = 0;
  }

  /** The connection is gone: nothing more is sent on it, nothing is due on the next one yet. */
  detach(): void {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    this.socket = undefined;
    this.toSubscribe.clear();
    this.authToSend = this.windowToAsk = this.recvToSend = undefined;
  }

  /** Asks for a receive window of `bytes` at the next pump, before anything else (its ack starts the count). */
  askWindow(bytes: number): void {
    this.windowToAsk = bytes;
  }

  /** Reports the receive window's running total (`recv`, no reply), ahead of every request. */
  report(total: number): void {
    this.recvToSend = total;
    this.pump();
  }

  /** Encodes a publish and buffers it; resolves with the server's ack (see `SluiceClient.publish`). */
  publish(channel: string, data: unknown, options: { key?: string; del?: boolean }): Promise<PublishAck> {
    const id = this.requests.newId();
    // The publication's id: a retry after `publish_uncertain` carries it, so the server publishes it once.
    const pid = `${this.pidPrefix}${id.toString(36)}`;
    let frame: string;
    try {
      frame = JSON.stringify({ op: 'pub', id, ch: channel, pid, key: options.key, del: options.del === true ? true : undefined, data: data === undefined ? null : data });
    } catch (error) {
      return Promise.reject(error); // not JSON-serialisable (a cycle, a BigInt)
    }
    const bytes = utf8Length(frame);
    if (bytes > this.maxPayloadBytes) return Promise.reject(new PayloadTooLargeError(bytes, this.maxPayloadBytes));
    return new Promise<PublishAck>((resolve, reject) => {
      const refused = this.queue.add({ id, channel, frame, bytes, resolve, reject });
      if (refused !== undefined) reject(refused);
      else this.pump();
    });
  }

  /** The server answered publish `id`. */
  published(id: number, frame: Record<string, any>, error: ServerError | undefined): void {
    if (error === undefined) this.queue.settle(id)?.resolve({ channel: frame.ch, seq: frame.seq });
    // Neither code processed the frame, so sending it again cannot publish it twice.
    else if (error.code === 'rate_limited' || error.code === 'shutting_down') this.queue.retry(id);
    else if (!this.retryUncertain(id, error)) this.queue.settle(id)?.reject(error);
  }

  /** The server refused a request with `rate_limited`: pace from now on, and pause as it asked. */
  rateLimited(limits: ServerLimits, retryMs: number): void {
    this.pacer.activate(limits);
    this.pausedUntil = Math.max(this.pausedUntil, this.clock() + retryMs);
  }

  /** Sends `auth` with this token next, before anything else. */
  refreshAuth(token: string): void {
    this.authToSend = token;
    this.pump();
  }

  /** An `auth` refused for its rate is sent again, unless a newer token is already due. */
  retryAuth(token: string): void {
    this.authToSend ??= token;
  }

  /**
   * A publish the server may have published (`publish_uncertain`, or `unavailable` for a retry of
   * one: the retry was not published, the first attempt may have been) is sent again with its pid
   * after a pause, for up to UNCERTAIN_RETRY_FOR_MS; then it rejects with `publish_uncertain`.
   */
  private retryUncertain(id: number, error: ServerError): boolean {
    const entry = this.queue.inFlightEntry(id);
    if (entry === undefined) return false;
    if (error.code !== 'publish_uncertain' && !(error.code === 'unavailable' && entry.uncertainSince !== undefined)) return false;
    const now = this.clock();
    entry.uncertainSince ??= now;
    if (now - entry.uncertainSince >= UNCERTAIN_RETRY_FOR_MS) {
      this.queue.settle(id)?.reject(error.code === 'publish_uncertain' ? error : new ServerError('publish_uncertain', 'publish may have been published; retries did not tell'));
      return true;
    }
    this.queue.retry(id);
    this.pausedUntil = Math.max(this.pausedUntil, now + (error.retryMs ?? UNCERTAIN_RETRY_DELAY_MS));
    return true;
  }

  /**
   * Sends what may go now: the receive window's request and report first (a report must not wait
   * behind requests: the server may be holding data for it), then a token refresh alone, else
   * (re)subscriptions, then publishes within the in-flight window and pace. Nothing but the window's
   * frames while the request line is blocked by an `auth` (they need no reply in order).
   */
  pump(): void {
    if (this.socket === undefined || this.pumpTimer !== undefined) return;
    const wait = this.pausedUntil - this.clock();
    if (wait > 0) return this.pumpLater(wait);
    if (this.windowToAsk !== undefined) {
      this.send({ op: 'window', bytes: this.windowToAsk }, { kind: 'window', bytes: this.windowToAsk });
      this.windowToAsk = undefined;
    }
    if (this.recvToSend !== undefined) {
      const frame = `{"op":"recv","bytes":${this.recvToSend}}`;
      const delay = this.pacer.delay(frame.length);
      if (delay > 0) return this.pumpLater(delay);
      this.recvToSend = undefined;
      this.socket.send(frame);
    }
    if (this.requests.blocked) return;
    if (this.authToSend !== undefined) {
      this.send({ op: 'auth', token: this.authToSend }, { kind: 'auth', token: this.authToSend });
      this.authToSend = undefined;
      return;
    }
    for (const sub of this.toSubscribe) {
      const request = sub.request();
      // An estimate (the id is not known yet); pacing only needs the order of magnitude.
      const delay = this.pacer.delay(utf8Length(JSON.stringify(request)) + 16);
      if (delay > 0) return this.pumpLater(delay);
      this.toSubscribe.delete(sub);
      this.send(request, { kind: 'sub', sub });
    }
    for (let entry = this.queue.peek(); entry !== undefined; entry = this.queue.peek()) {
      const delay = this.pacer.delay(entry.bytes);
      if (delay > 0) return this.pumpLater(delay);
      this.queue.sent(entry);
      if (entry.bytes > this.maxPayloadBytes) {
        this.queue.settle(entry.id)?.reject(new PayloadTooLargeError(entry.bytes, this.maxPayloadBytes));
        continue;
      }
      this.requests.recordPublish(entry.id);
      this.socket.send(entry.frame);
    }
  }

  private pumpLater(ms: number): void {
    this.pumpTimer = setTimeout(() => {
      this.pumpTimer = undefined;
      this.pump();
    }, Math.ceil(ms));
  }

  /** Writes a request on the attached connection and records what its reply settles. */
  send(request: Record<string, unknown>, pending: Pending): void {
    this.socket!.send(this.requests.record(request, pending));
  }
}
