import type { AdmittedClient } from '../auth/identity.js';
import { InboundLimiter } from '../flow/inbound-limiter.js';
import { StrikeCounter } from '../flow/strikes.js';
import { CLOSE, type CloseName } from '../protocol/close-codes.js';
import type { ErrorCode } from '../protocol/errors.js';
import { encodeAck, encodeError, encodePong } from '../protocol/frames.js';
import { decodeRequest, peekRequestId, type PubRequest, type RecvRequest, type RequestId, type SubRequest, type WindowRequest } from '../protocol/requests.js';
import type { SocketHandler, TransportSocket } from '../net/socket.js';
import { ConnectionAuth, type AuthOwner } from './connection-auth.js';
import type { ConnectionContext } from './connection-context.js';
import { ConnectionPublisher, type PublisherOwner } from './connection-publisher.js';
import { ConnectionSubscriptions, type SubscriptionsOwner } from './connection-subscriptions.js';
import type { Closed } from './teardowns.js';
import { OutboundWriter, type WriterOwner } from './outbound-writer.js';
import { ORDER, REPLIES, RequestGate, TURN, WINDOW, type GateOwner } from './request-gate.js';
import type { Paced } from './turn-allowance.js';
import type { Subscription } from './subscription.js';
import { fetchKey } from './keyed-requests.js';
import { CatchUp } from './catch-up.js';

/**
 * Closes for abuse: the peer is abandoned (TransportSocket.abandon), so nothing it sends after the
 * close costs more than a read, and a flood stops being read at all.
 */
const ABANDONING: ReadonlySet<CloseName> = new Set(['bad_protocol', 'forbidden', 'rate_limit_strikes']);

/**
 * One client connection: inbound limits (token buckets, strikes), request handling, and the parts
 * it is made of: its request gate (requests in the order sent, reading stopped while they wait),
 * its subscriptions, its publications and its outbound writer. Everything it holds is released on
 * close.
 */
export class Connection implements SocketHandler, WriterOwner, AuthOwner, PublisherOwner, SubscriptionsOwner, GateOwner, Paced, Closed {
  readonly writer: OutboundWriter;
  private readonly publisher: ConnectionPublisher;
  readonly openedAt: number;
  lastSeen: number;
  private readonly subs: ConnectionSubscriptions;
  private readonly gate: RequestGate;
  private readonly limiter: InboundLimiter;
  private readonly rateStrikes: StrikeCounter;
  private readonly invalidStrikes: StrikeCounter;
  /** The client's address as admission counted it. */
  readonly ip: string;
  /** Who the client is and what it may do. */
  readonly auth: ConnectionAuth;
  readonly catchUp: CatchUp | undefined;
  private closing = false;
  private closeAfterDrain = false;
  /** The close the server started, if it did. */
  private closedAs: CloseName | undefined;
  /** Counters for the close log line. */
  messagesIn = 0;
  rateLimited = 0;

  constructor(
    readonly id: string,
    readonly socket: TransportSocket,
    private readonly ctx: ConnectionContext,
    client: AdmittedClient,
  ) {
    const { settings, clock } = ctx;
    this.ip = client.ip;
    this.auth = new ConnectionAuth(client.identity, ctx, this);
    this.openedAt = this.lastSeen = clock();
    this.limiter = new InboundLimiter(settings.inbound, clock);
    this.rateStrikes = new StrikeCounter(settings.inbound.rateLimitStrikes, settings.inbound.strikeWindowMs, clock);
    this.invalidStrikes = new StrikeCounter(settings.inbound.invalidFrameStrikes, settings.inbound.strikeWindowMs, clock);
    this.publisher = new ConnectionPublisher(ctx, this);
    this.subs = new ConnectionSubscriptions(ctx, this);
    this.gate = new RequestGate(socket, ctx, this);
    this.writer = new OutboundWriter({ socket, settings: settings.outbound, stats: ctx.stats, clock, queueClock: ctx.turnClock, batcher: ctx.batcher, pacer: ctx.pacer, owner: this, pools: ctx.budget.pools });
    const { writer } = this;
    this.catchUp = ctx.hub.topics === undefined ? undefined : new CatchUp(socket, () => this.subs.values(), () => writer.idle && writer.writable && !writer.windowed);
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /**
   * For the housekeeping sweep: true once a close started before the previous sweep has still
   * not completed, i.e. the handshake has had a whole heartbeat interval.
   */
  closeOverdue(): boolean {
    if (!this.closing) return false;
    if (this.closeSeenBySweep) return true;
    this.closeSeenBySweep = true;
    return false;
  }

  private closeSeenBySweep = false;

  // ---- SocketHandler ----

  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    const { stats } = this.ctx;
    const now = this.ctx.clock();
    this.lastSeen = now;
    this.messagesIn++;
    stats.messagesIn++;
    stats.bytesIn += data.length;
    const retryMs = this.charge(data.length, now);
    if (retryMs > 0) {
      // Parsing a refused frame costs little: refusals are bounded by the strike limit.
      if (!this.closing) this.sendError('rate_limited', isBinary ? undefined : peekRequestId(data.toString('utf8')), undefined, retryMs);
      return;
    }

    this.gate.take(data, isBinary);
  }

  /** Handles a request; false when it must wait for an earlier one (it is then held, and requests stop). */
  handle(data: Buffer, isBinary: boolean): boolean {
    if (isBinary) {
      this.invalid('binary_unsupported');
      return true;
    }
    const text = data.toString('utf8');
    // A `sub` that waits for a later turn's allowance waits undecoded: it is decoded when its turn
    // comes (a thousand resumers' first frames arriving in one turn were mostly decoding, done twice).
    const { subscribes } = this.ctx;
    if (!subscribes.hasLeft() && text.includes('"op":"sub"') && !subscribes.mayGo(this)) return this.waitForTurn();
    const decoded = decodeRequest(text);
    if (!decoded.ok) {
      this.invalid(decoded.code, decoded.id, decoded.message);
      return true;
    }
    const request = decoded.request;
    if ((request.op === 'sub' || request.op === 'unsub') && this.subs.mustWait(request.ch)) {
      this.gate.stop(ORDER);
      return false;
    }
    if (request.op === 'sub') {
      // Joins (each may start a replay) are bounded per loop turn for the whole process: a thousand
      // resumes arriving together are taken over several turns, each connection's in its order.
      if (!this.ctx.subscribes.mayGo(this)) return this.waitForTurn();
      this.ctx.subscribes.spent(1);
    }
    try {
      switch (request.op) {
        case 'pub':
          this.publisher.publish(request);
          break;
        case 'sub':
          this.subs.subscribe(request);
          break;
        case 'unsub':
          this.subs.unsubscribe(request);
          break;
        case 'ping':
          this.writer.sendControl(encodePong(request.id));
          break;
        case 'auth':
          this.auth.refresh(request);
          break;
        case 'fetch':
          fetchKey(this, this.ctx.hub, request);
          break;
        case 'presence':
        case 'occupancy':
          this.ctx.presence.request(this, request);
          break;
        case 'window':
          this.askWindow(request);
          break;
        case 'recv':
          this.reportReceived(request);
          break;
      }
    } catch (err) {
      // A bug must cost one request, never the process or another client.
      this.ctx.log.error({ conn: this.id, op: request.op, err }, 'request failed');
      this.sendError('internal', request.id);
    }
    return true;
  }

  /**
   * A receive window (docs/protocol.md, `window`): the connection leaves the transport's topics
   * first (their frames are not counted per connection), so that whatever they were given reaches
   * the client before the ack that starts the count.
   */
  private askWindow(request: WindowRequest): void {
    const { minReceiveWindowBytes: min, maxReceiveWindowBytes: max } = this.ctx.settings.outbound;
    if (request.bytes < min || request.bytes > max) {
      this.sendError('bad_window', request.id, `window must be ${min} to ${max} bytes`);
      return;
    }
    this.catchUp?.busy();
    this.writer.setWindow(request.bytes, encodeAck(request.id, { window: request.bytes }));
  }

  private reportReceived(request: RecvRequest): void {
    if (!this.writer.received(request.bytes)) this.sendError('bad_window', request.id, 'recv must count what was received since the window\'s ack: no window, more than was written, or less than before');
    else if (request.id !== undefined) this.writer.sendControl(encodeAck(request.id));
  }

  /** A `sub` waits for a later turn's `limits.subscribesPerTurn` (the allowance calls `continueTurn`). */
  private waitForTurn(): false {
    this.gate.stop(TURN);
    return false;
  }

  onDrain(): void {
    this.writer.onDrain();
  }

  onPong(): void {
    this.lastSeen = this.ctx.clock();
  }

  onBusy(): void {
    this.catchUp?.busy();
  }

  onSettled(): void {
    if (!this.closing) this.catchUp?.settled();
  }

  /**
   * A WebSocket ping costs a frame of the inbound limits (one refused goes unanswered, and is a
   * strike) and of the connection's share of the turn (request-gate.ts). `payload` undefined: the
   * transport answered it (uWS).
   */
  onPing(payload: Buffer | undefined, bytes: number): void {
    if (this.closing) return;
    const now = this.ctx.clock();
    this.lastSeen = now;
    if (this.charge(bytes, now) === 0 && !this.closing && payload !== undefined) this.gate.takePing(payload);
  }

  answerPing(payload: Buffer): void {
    this.writer.sendPong(payload);
  }

  /**
   * Charges a frame to the inbound token buckets. `pause` mode admits it and stops reading until
   * the debt is repaid; `reject` mode refuses it beyond the buckets: a strike (the last one closes
   * 4101) and the ms until it would have been admitted, else 0. `now`: the frame's arrival, as
   * read by the caller (one clock read per frame).
   */
  private charge(size: number, now: number): number {
    const { stats, settings } = this.ctx;
    if (settings.inbound.mode === 'pause') {
      const waitMs = this.limiter.admitWithDebt(size, now);
      if (waitMs > 0) {
        stats.inboundPauses++;
        this.gate.ratePause();
        this.ctx.resumer.schedule(this, waitMs);
      }
      return 0;
    }
    const retryMs = this.limiter.tryAdmit(size, now);
    if (retryMs === 0) return 0;
    this.rateLimited++;
    stats.rateLimited++;
    if (this.rateStrikes.hit(now)) {
      this.ctx.log.warn({ conn: this.id, ip: this.socket.remoteAddress, rateLimited: this.rateLimited }, 'rate-limit strikes exhausted');
      this.close('rate_limit_strikes');
    }
    return retryMs;
  }

  onClose(code: number, reason: string, fault?: string): void {
    // The transport closes broken frames itself; count what the peer received like the server's own closes.
    if (!this.closing && fault !== undefined) this.ctx.stats.countClose(code);
    this.closing = true;
    this.catchUp?.busy();
    // Nothing more is written; what the connection holds is released by tearDown, within the turn's time.
    this.writer.stop();
    this.peerClose = { code, reason, fault };
    this.ctx.teardowns.add(this);
  }

  /** The close the transport reported, kept for tearDown. */
  private peerClose: { code: number; reason: string; fault?: string | undefined } = { code: 0, reason: '' };

  /** Releases what the closed connection holds, its admission slot last (session/teardowns.ts). */
  tearDown(): void {
    this.release();
    const { fault } = this.peerClose;
    // What the peer received: the server's own close, whatever the peer answered to it (ws reports the answer).
    const { code, reason } = this.closedAs === undefined ? this.peerClose : CLOSE[this.closedAs];
    this.ctx.onClosed(this, code, reason);
    this.ctx.log.info(
      { conn: this.id, ip: this.socket.remoteAddress, code, reason, fault, ms: Math.round(this.ctx.clock() - this.openedAt), messagesIn: this.messagesIn, rateLimited: this.rateLimited },
      'connection closed',
    );
  }

  // ---- WriterOwner ----

  subscriptionOf(channel: string): Subscription | undefined {
    return this.subs.get(channel);
  }

  subscriptions(): Iterable<Subscription> {
    return this.subs.values();
  }

  slowConsumer(): void {
    if (this.closing) return;
    this.ctx.log.warn(
      { conn: this.id, ip: this.socket.remoteAddress, queuedBytes: this.writer.queuedBytes, queuedMessages: this.writer.queuedMessages },
      'slow consumer disconnected',
    );
    this.close('slow_consumer');
  }

  drained(): void {
    if (this.closeAfterDrain) this.close('shutting_down');
  }

  // ---- lifecycle ----

  resumeReading(): void {
    this.gate.rateRepaid();
  }

  /** The subscribe allowance of a new turn: the `sub` held for it, and what followed, go on. */
  continueTurn(): void {
    this.gate.go(TURN);
  }

  /** The answer held requests waited for came. */
  orderSettled(): void {
    this.gate.go(ORDER);
  }

  // ---- WriterOwner: replies backing up ----

  repliesBackedUp(): boolean {
    if (!this.ctx.readingPausable) return false;
    this.gate.stop(REPLIES);
    return true;
  }

  repliesDrained(): void {
    this.gate.go(REPLIES);
  }

  /** Closes with a catalogued code; queued data is discarded. */
  close(name: CloseName): void {
    if (this.closing) return;
    this.closing = true;
    this.catchUp?.busy();
    this.closedAs = name;
    // Stop fan-out to this connection now, not when the peer completes the close handshake.
    this.release();
    const { code, reason } = CLOSE[name];
    this.ctx.stats.countClose(code);
    if (ABANDONING.has(name)) this.socket.abandon(code, reason);
    else this.socket.close(code, reason);
  }

  /** Drops the queue and every subscription. Idempotent. */
  private release(): void {
    this.gate.release();
    this.writer.discard();
    this.ctx.resumer.cancel(this);
    this.subs.release();
  }

  /** Graceful shutdown: close with 4200 once everything queued has been written. */
  closeWhenDrained(): void {
    if (this.closing) return;
    this.closeAfterDrain = true;
    if (this.writer.idle) this.close('shutting_down');
  }

  // ---- requests ----

  publishVetted(request: PubRequest, rawData: string): void {
    this.publisher.vetted(request, rawData);
  }

  publishRefused(): void {
    this.publisher.refused();
  }

  windowFull(full: boolean): void {
    if (full) this.gate.stop(WINDOW);
    else this.gate.go(WINDOW);
  }

  sendControl(text: string): void {
    this.writer.sendControl(text);
  }

  subscribeVetted(request: SubRequest, info: unknown): void {
    this.subs.vetted(request, info);
  }

  subscribeRefused(request: SubRequest): void {
    this.subs.refused(request);
  }

  revokeSubscriptions(allowed: (ch: string) => boolean): void {
    this.subs.revoke(allowed);
  }

  private invalid(code: ErrorCode, id?: RequestId, message?: string): void {
    this.ctx.stats.invalidFrames++;
    if (this.invalidStrikes.hit()) {
      this.ctx.log.warn({ conn: this.id, ip: this.socket.remoteAddress, lastError: code }, 'too many invalid frames');
      this.close('bad_protocol');
      return;
    }
    this.sendError(code, id, message);
  }

  sendError(code: ErrorCode, id?: RequestId, message?: string, retryMs?: number): void {
    this.writer.sendControl(encodeError(code, id, message, retryMs));
  }
}
