import { describeIdentity, type AdmittedClient } from '../auth/identity.js';
import { InboundLimiter } from '../flow/inbound-limiter.js';
import { StrikeCounter } from '../flow/strikes.js';
import type { JoinOutcome } from '../hub/channel.js';
import type { Hub } from '../hub/hub.js';
import { CLOSE, type CloseName } from '../protocol/close-codes.js';
import type { ErrorCode } from '../protocol/errors.js';
import { encodeAck, encodeError, encodePong, encodeRevoked } from '../protocol/frames.js';
import { decodeRequest, peekRequestId, type PubRequest, type RequestId, type SubRequest, type UnsubRequest } from '../protocol/requests.js';
import type { SocketHandler, TransportSocket } from '../net/socket.js';
import type { ChannelHookCalls, HookedConnection } from './channel-hooks.js';
import { ConnectionAuth, type AuthContext, type AuthOwner } from './connection-auth.js';
import { ConnectionPublisher, type PublisherOwner } from './connection-publisher.js';
import { OutboundWriter, type WriterOwner } from './outbound-writer.js';
import type { SessionPresence } from './presence-requests.js';
import type { Paced, TurnAllowance } from './turn-allowance.js';
import type { ResumeScheduler } from './resume-scheduler.js';
import { Subscription, type JoinSink } from './subscription.js';
import type { WriteBatcher } from './write-batcher.js';
import type { DeliveryContracts } from './key-pacer.js';
import { fetchKey, keyedAckFields, setUpKeyed } from './keyed-requests.js';
import type { MemoryBudget } from '../util/memory-budget.js';

/** What every connection shares: one instance per gateway. */
export interface ConnectionContext extends AuthContext {
  readonly hub: Hub;
  readonly batcher: WriteBatcher;
  readonly pacer: TurnAllowance;
  /** `limits.subscribesPerTurn`: joins per loop turn, for the whole process. */
  readonly subscribes: TurnAllowance;
  readonly resumer: ResumeScheduler;
  /** True once graceful shutdown has begun. */
  readonly draining: () => boolean;
  /** The transport can stop reading a socket (ws can, uWS cannot). */
  readonly readingPausable: boolean;
  /** `code`/`reason`: what the server closed with, else what the peer or the transport did. */
  readonly onClosed: (conn: Connection, code: number, reason: string) => void;
  /** The subscribe and publish hooks, when either is configured (docs/hooks.md). */
  readonly channelHooks?: ChannelHookCalls | undefined;
  /** The process's memory budget (each connection's queue and replays charge its pools). */
  readonly budget: MemoryBudget;
  /** Members, counts and their events on presence channels (docs/presence.md). */
  readonly presence: SessionPresence;
  /** Per-subscriber delivery contracts (`maxRate`), on the gateway's one timer wheel. */
  readonly contracts: DeliveryContracts;
}

/**
 * Closes for abuse: the peer is abandoned (TransportSocket.abandon), so nothing it sends after the
 * close costs more than a read, and a flood stops being read at all.
 */
const ABANDONING: ReadonlySet<CloseName> = new Set(['bad_protocol', 'forbidden', 'rate_limit_strikes']);

/** Why the connection stopped taking requests (bit flags): */
/** `limits.maxPendingPublishes` publications await the broker. */
const WINDOW = 1;
/** The control lane is full: replies wait for the client to read. */
const REPLIES = 2;
/** A `sub`/`unsub` waits for the answer to an earlier `sub` of its channel (followed by an `unsub`). */
const ORDER = 4;
/** A `sub` waits for a later loop turn: this one's `limits.subscribesPerTurn` are taken. */
const TURN = 8;
const PAUSE_CAUSES = { [WINDOW]: 'publish_window', [REPLIES]: 'replies', [ORDER]: 'subscription_order', [TURN]: 'subscribes_per_turn' } as const;

/**
 * One client connection: inbound flow control (token buckets, strikes, pause), request handling,
 * its subscriptions, and its outbound writer. Everything it holds is released on close.
 *
 * Requests take effect in the order sent. While the connection has stopped taking them (its
 * publish window is full, or its replies back up) it stops reading the socket, so TCP pushes back
 * on the client; frames the transport delivers meanwhile wait, in order, in `held`.
 */
export class Connection implements SocketHandler, WriterOwner, JoinSink, AuthOwner, HookedConnection, PublisherOwner, Paced {
  readonly writer: OutboundWriter;
  private readonly publisher: ConnectionPublisher;
  readonly openedAt: number;
  lastSeen: number;
  /** By channel name. */
  private readonly subs = new Map<string, Subscription>();
  /** `sub` requests waiting for the subscribe hook, by channel, with an `unsub` that arrived meanwhile. */
  private readonly vetting = new Map<string, { id: RequestId | undefined } | null>();
  private readonly limiter: InboundLimiter;
  private readonly rateStrikes: StrikeCounter;
  private readonly invalidStrikes: StrikeCounter;
  /** The client's address as admission counted it. */
  readonly ip: string;
  /** Who the client is and what it may do. */
  readonly auth: ConnectionAuth;
  private closing = false;
  private closeAfterDrain = false;
  /** The close the server started, if it did. */
  private closedAs: CloseName | undefined;
  /** The joining subscription whose answer an ORDER stop waits for. */
  private awaited: Subscription | undefined;
  /** The channel whose subscribe-hook verdict an ORDER stop waits for (a `sub` with an `unsub` behind it). */
  private awaitedVetting: string | undefined;
  /** WINDOW | REPLIES | ORDER | TURN: why requests are not taken now. */
  private stopped = 0;
  /** The token buckets paused reading (pause mode) until the resume scheduler fires. */
  private ratePaused = false;
  /** Frames received while requests were stopped, oldest first, from `heldHead` on. */
  private held: Array<{ readonly data: Buffer; readonly isBinary: boolean }> = [];
  private heldHead = 0;
  private heldBytes = 0;
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
    this.writer = new OutboundWriter({ socket, settings: settings.outbound, stats: ctx.stats, clock, batcher: ctx.batcher, pacer: ctx.pacer, owner: this, pools: ctx.budget.pools });
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
    this.lastSeen = this.ctx.clock();
    this.messagesIn++;
    stats.messagesIn++;
    stats.bytesIn += data.length;
    const retryMs = this.charge(data.length);
    if (retryMs > 0) {
      // Parsing a refused frame costs little: refusals are bounded by the strike limit.
      if (!this.closing) this.sendError('rate_limited', isBinary ? undefined : peekRequestId(data.toString('utf8')), undefined, retryMs);
      return;
    }

    if (this.stopped !== 0 || this.heldHead < this.held.length || !this.handle(data, isBinary)) this.hold(data, isBinary);
  }

  /** Handles a request; false when it must wait for an earlier one (it is then held, and requests stop). */
  private handle(data: Buffer, isBinary: boolean): boolean {
    if (isBinary) {
      this.invalid('binary_unsupported');
      return true;
    }
    const decoded = decodeRequest(data.toString('utf8'));
    if (!decoded.ok) {
      this.invalid(decoded.code, decoded.id, decoded.message);
      return true;
    }
    const request = decoded.request;
    if ((request.op === 'sub' || request.op === 'unsub') && this.mustWait(request.ch)) return false;
    if (request.op === 'sub') {
      // Joins (each may start a replay) are bounded per loop turn for the whole process: a thousand
      // resumes arriving together are taken over several turns, each connection's in its order.
      if (!this.ctx.subscribes.mayGo(this)) {
        this.stop(TURN);
        return false;
      }
      this.ctx.subscribes.spent(1);
    }
    try {
      switch (request.op) {
        case 'pub':
          this.publisher.publish(request);
          break;
        case 'sub':
          this.subscribe(request);
          break;
        case 'unsub':
          this.unsubscribe(request);
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
      }
    } catch (err) {
      // A bug must cost one request, never the process or another client.
      this.ctx.log.error({ conn: this.id, op: request.op, err }, 'request failed');
      this.sendError('internal', request.id);
    }
    return true;
  }

  /**
   * Requests act in the order sent, however long a broker takes to answer a `sub`: a `sub` still
   * joining with an `unsub` behind it leaves the channel's state to its answer, so the next
   * request for that channel (and every request after it) waits for that answer.
   */
  private mustWait(ch: string): boolean {
    if (this.vetting.get(ch)) {
      this.awaitedVetting = ch;
      this.stop(ORDER);
      return true;
    }
    const sub = this.subs.get(ch);
    if (sub === undefined || !sub.joining || sub.leave === undefined) return false;
    this.awaited = sub;
    this.stop(ORDER);
    return true;
  }

  onDrain(): void {
    this.writer.onDrain();
  }

  onPong(): void {
    this.lastSeen = this.ctx.clock();
  }

  /** A WebSocket ping costs a frame of the inbound limits; one refused goes unanswered (and is a strike). */
  onPing(payload: Buffer, answered: boolean): void {
    if (this.closing) return;
    this.lastSeen = this.ctx.clock();
    if (this.charge(payload.length) === 0 && !this.closing && !answered) this.writer.sendPong(payload);
  }

  /**
   * Charges a frame to the inbound token buckets. `pause` mode admits it and stops reading until
   * the debt is repaid; `reject` mode refuses it beyond the buckets: a strike (the last one closes
   * 4101) and the ms until it would have been admitted, else 0.
   */
  private charge(size: number): number {
    const { stats, settings } = this.ctx;
    if (settings.inbound.mode === 'pause') {
      const waitMs = this.limiter.admitWithDebt(size);
      if (waitMs > 0) {
        stats.inboundPauses++;
        this.ratePaused = true;
        this.socket.pause();
        this.ctx.resumer.schedule(this, waitMs);
      }
      return 0;
    }
    const retryMs = this.limiter.tryAdmit(size);
    if (retryMs === 0) return 0;
    this.rateLimited++;
    stats.rateLimited++;
    if (this.rateStrikes.hit()) {
      this.ctx.log.warn({ conn: this.id, ip: this.socket.remoteAddress, rateLimited: this.rateLimited }, 'rate-limit strikes exhausted');
      this.close('rate_limit_strikes');
    }
    return retryMs;
  }

  onClose(code: number, reason: string, byTransport = false): void {
    // The transport closes broken frames itself; count what the peer received like the server's own closes.
    if (!this.closing && byTransport) this.ctx.stats.countClose(code);
    this.closing = true;
    this.release();
    const own = this.closedAs === undefined ? undefined : CLOSE[this.closedAs];
    this.ctx.onClosed(this, own?.code ?? code, own?.reason ?? reason);
    this.ctx.log.info(
      { conn: this.id, ip: this.socket.remoteAddress, code, reason, ms: Math.round(this.ctx.clock() - this.openedAt), messagesIn: this.messagesIn, rateLimited: this.rateLimited },
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
    this.ratePaused = false;
    if (!this.closing && this.stopped === 0) this.socket.resume();
  }

  /**
   * Keeps a frame for when requests are taken again. A transport that stops reading delivers at
   * most what it had already read; one that cannot (uWS) is held to `limits.maxHeldRequestBytes`,
   * past which a request is refused with `too_many_requests`.
   */
  private hold(data: Buffer, isBinary: boolean): void {
    if (this.heldBytes >= this.ctx.settings.maxHeldRequestBytes) {
      this.sendError('too_many_requests', isBinary ? undefined : peekRequestId(data.toString('utf8')));
      return;
    }
    // The transport's buffer is only valid during onMessage.
    this.held.push({ data: Buffer.from(data), isBinary });
    this.heldBytes += data.length;
  }

  private stop(reason: number): void {
    if ((this.stopped & reason) !== 0) return;
    if (this.stopped === 0 && !this.ratePaused) this.socket.pause();
    this.stopped |= reason;
    this.ctx.stats.readPauses[PAUSE_CAUSES[reason as keyof typeof PAUSE_CAUSES]]++;
  }

  /** Takes requests again once nothing else stops them: the held ones first, in order. */
  private go(reason: number): void {
    if ((this.stopped & reason) === 0) return;
    this.stopped &= ~reason;
    while (this.stopped === 0 && this.heldHead < this.held.length && !this.closing) {
      const frame = this.held[this.heldHead]!;
      if (!this.handle(frame.data, frame.isBinary)) break;
      this.heldHead++;
      this.heldBytes -= frame.data.length;
    }
    if (this.heldHead === this.held.length) {
      this.held = [];
      this.heldHead = 0;
    }
    if (this.stopped === 0 && !this.ratePaused && !this.closing) this.socket.resume();
  }

  /** The subscribe allowance of a new turn: the `sub` held for it, and what followed, go on. */
  continueTurn(): void {
    this.go(TURN);
  }

  // ---- WriterOwner: replies backing up ----

  repliesBackedUp(): boolean {
    if (!this.ctx.readingPausable) return false;
    this.stop(REPLIES);
    return true;
  }

  repliesDrained(): void {
    this.go(REPLIES);
  }

  /** Closes with a catalogued code; queued data is discarded. */
  close(name: CloseName): void {
    if (this.closing) return;
    this.closing = true;
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
    this.held = [];
    this.heldHead = this.heldBytes = 0;
    this.writer.discard();
    this.ctx.resumer.cancel(this);
    for (const sub of this.subs.values()) {
      this.ctx.hub.unsubscribe(sub.channel, sub);
      this.ctx.presence.left(sub);
    }
    this.subs.clear();
    this.vetting.clear();
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
    if (full) this.stop(WINDOW);
    else this.go(WINDOW);
  }

  sendControl(text: string): void {
    this.writer.sendControl(text);
  }

  private subscribe(request: SubRequest): void {
    const { hub, settings } = this.ctx;
    if (this.ctx.draining()) {
      this.sendError('shutting_down', request.id);
      return;
    }
    if (!this.auth.maySubscribe(request.ch, request.id)) return;
    if (this.subs.has(request.ch) || this.vetting.has(request.ch)) {
      this.sendError('already_subscribed', request.id);
      return;
    }
    if (this.subs.size + this.vetting.size >= settings.maxSubscriptionsPerConnection) {
      this.sendError('too_many_subscriptions', request.id);
      return;
    }
    if (this.ctx.channelHooks?.subscribeHooked(request.ch)) {
      this.vetting.set(request.ch, null);
      this.ctx.channelHooks.subscribe(this, request);
      return;
    }
    this.join(request, undefined, undefined);
  }

  subscribeVetted(request: SubRequest, info: unknown): void {
    const leave = this.vetting.get(request.ch);
    this.vetting.delete(request.ch);
    this.join(request, info, leave ?? undefined);
    this.vetted(request.ch);
  }

  subscribeRefused(request: SubRequest): void {
    const leave = this.vetting.get(request.ch);
    this.vetting.delete(request.ch);
    if (leave) this.sendError('not_subscribed', leave.id);
    this.vetted(request.ch);
  }

  /** A verdict came: requests held behind it go on, or wait for the hub's answer to the join it started. */
  private vetted(ch: string): void {
    if (this.awaitedVetting !== ch) return;
    this.awaitedVetting = undefined;
    const sub = this.subs.get(ch);
    if (sub !== undefined && sub.joining && sub.leave !== undefined) this.awaited = sub;
    else this.go(ORDER);
  }

  private join(request: SubRequest, info: unknown, leave: { id: RequestId | undefined } | undefined): void {
    const { hub } = this.ctx;
    const channel = hub.channel(request.ch);
    if (channel === undefined) {
      this.sendError('channel_limit', request.id);
      if (leave !== undefined) this.sendError('not_subscribed', leave.id);
      return;
    }
    const sub = new Subscription(channel, this.writer, request.id, this);
    sub.info = info;
    sub.leave = leave;
    setUpKeyed(sub, request, this.ctx.contracts, this.writer);
    if (!this.ctx.presence.admit(this, request, sub)) {
      if (leave !== undefined) this.sendError('not_subscribed', leave.id);
      return;
    }
    this.subs.set(channel.name, sub);
    hub.subscribe(channel, sub, request.since, request.snapshot);
  }

  /**
   * The hub's answer to a `sub`: reply, then (on success) the hub delivers the replay. An `unsub`
   * that arrived meanwhile takes effect now, so requests act in the order they were sent.
   */
  joined(sub: Subscription, outcome: JoinOutcome): void {
    if (this.closing) return;
    if (!outcome.ok) {
      this.subs.delete(sub.channel.name);
      this.writer.forget(sub);
      this.ctx.presence.left(sub);
      this.sendError(outcome.code, sub.requestId);
      // An unsub waiting on this join is answered; a revocation (no id) already was, by its own err.
      if (sub.leave?.id !== undefined) this.sendError('not_subscribed', sub.leave.id);
    } else {
      const presence = this.ctx.presence.joined(sub);
      if (sub.requestId !== undefined) {
        const fields: Record<string, unknown> = { ch: sub.channel.name, epoch: outcome.epoch, seq: outcome.seq };
        if (outcome.recovered !== undefined) fields.recovered = outcome.recovered;
        if (outcome.snapshot === true) fields.snapshot = true;
        Object.assign(fields, keyedAckFields(sub));
        if (sub.info !== undefined) fields.info = sub.info;
        Object.assign(fields, presence);
        this.writer.sendControl(encodeAck(sub.requestId, fields));
      }
      if (sub.leave !== undefined) this.leave(sub, sub.leave.id);
    }
    if (sub === this.awaited) {
      this.awaited = undefined;
      this.go(ORDER);
    }
  }

  private unsubscribe(request: UnsubRequest): void {
    if (this.vetting.get(request.ch) === null) {
      this.vetting.set(request.ch, { id: request.id });
      return;
    }
    const sub = this.subs.get(request.ch);
    if (sub === undefined || sub.leave !== undefined) {
      this.sendError('not_subscribed', request.id);
      return;
    }
    if (sub.joining) sub.leave = { id: request.id };
    else this.leave(sub, request.id);
  }

  revokeSubscriptions(allowed: (ch: string) => boolean): void {
    for (const sub of [...this.subs.values()]) {
      const ch = sub.channel.name;
      if (sub.leave !== undefined || allowed(ch)) continue;
      this.ctx.log.info({ conn: this.id, ip: this.ip, who: describeIdentity(this.auth.identity), ch }, 'subscription revoked');
      if (sub.joining) sub.leave = { id: undefined };
      else this.leave(sub, undefined);
      this.writer.sendControl(encodeRevoked(ch));
    }
  }

  private leave(sub: Subscription, id: RequestId | undefined): void {
    this.subs.delete(sub.channel.name);
    this.writer.forget(sub);
    this.ctx.hub.unsubscribe(sub.channel, sub);
    this.ctx.presence.left(sub);
    if (id !== undefined) this.writer.sendControl(encodeAck(id, { ch: sub.channel.name }));
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
