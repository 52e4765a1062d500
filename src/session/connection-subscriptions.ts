import { describeIdentity } from '../auth/identity.js';
import type { JoinOutcome } from '../hub/channel.js';
import type { ErrorCode } from '../protocol/errors.js';
import { encodeAck, encodeRevoked } from '../protocol/frames.js';
import type { RequestId, SubRequest, UnsubRequest } from '../protocol/requests.js';
import type { HookedConnection } from './channel-hooks.js';
import type { ConnectionAuth } from './connection-auth.js';
import type { ConnectionContext } from './connection-context.js';
import { keyedAckFields, setUpKeyed } from './keyed-requests.js';
import type { OutboundWriter } from './outbound-writer.js';
import type { PresenceMember } from './presence-requests.js';
import { Subscription, type JoinSink } from './subscription.js';
import type { CatchUp } from './catch-up.js';

/** The connection that owns the subscriptions: who asks, and where replies go. */
export interface SubscriptionsOwner extends HookedConnection, PresenceMember {
  readonly auth: ConnectionAuth;
  readonly writer: OutboundWriter;
  /** On a transport with its own fan-out: whether the connection is caught up. */
  readonly catchUp: CatchUp | undefined;
  sendError(code: ErrorCode, id?: RequestId, message?: string, retryMs?: number): void;
  /** The answer that held requests waited for (see `mustWait`) came: they go on, in order. */
  orderSettled(): void;
}

/**
 * One connection's subscriptions: `sub` (through the subscribe hook when one is configured, then
 * the hub), `unsub`, revocation, and the hub's answers. Requests for one channel act in the order
 * sent however long a hook or a broker takes to answer: `mustWait` says when the next one must
 * wait for an answer, and the owner is told (`orderSettled`) when it came.
 */
export class ConnectionSubscriptions implements JoinSink {
  /** By channel name. */
  private readonly subs = new Map<string, Subscription>();
  /** `sub` requests waiting for the subscribe hook, by channel, with an `unsub` that arrived meanwhile. */
  private readonly vetting = new Map<string, { id: RequestId | undefined } | null>();
  /** The joining subscription whose answer held requests wait for. */
  private awaited: Subscription | undefined;
  /** The channel whose subscribe-hook verdict held requests wait for (a `sub` with an `unsub` behind it). */
  private awaitedVetting: string | undefined;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly owner: SubscriptionsOwner,
  ) {}

  get size(): number {
    return this.subs.size;
  }

  get(channel: string): Subscription | undefined {
    return this.subs.get(channel);
  }

  values(): Iterable<Subscription> {
    return this.subs.values();
  }

  /**
   * True when a `sub`/`unsub` of `ch` must wait: a `sub` still joining (or being vetted) with an
   * `unsub` behind it leaves the channel's state to its answer, so the next request for that
   * channel (and every request after it) waits for that answer.
   */
  mustWait(ch: string): boolean {
    if (this.vetting.get(ch)) {
      this.awaitedVetting = ch;
      return true;
    }
    const sub = this.subs.get(ch);
    if (sub === undefined || !sub.joining || sub.leave === undefined) return false;
    this.awaited = sub;
    return true;
  }

  subscribe(request: SubRequest): void {
    const { ctx, owner } = this;
    if (ctx.draining()) {
      owner.sendError('shutting_down', request.id);
      return;
    }
    if (!owner.auth.maySubscribe(request.ch, request.id)) return;
    if (this.subs.has(request.ch) || this.vetting.has(request.ch)) {
      owner.sendError('already_subscribed', request.id);
      return;
    }
    if (this.subs.size + this.vetting.size >= ctx.settings.maxSubscriptionsPerConnection) {
      owner.sendError('too_many_subscriptions', request.id);
      return;
    }
    if (ctx.channelHooks?.subscribeHooked(request.ch)) {
      this.vetting.set(request.ch, null);
      ctx.channelHooks.subscribe(owner, request);
      return;
    }
    this.join(request, undefined, undefined);
  }

  vetted(request: SubRequest, info: unknown): void {
    const leave = this.vetting.get(request.ch);
    this.vetting.delete(request.ch);
    this.join(request, info, leave ?? undefined);
    this.verdictCame(request.ch);
  }

  refused(request: SubRequest): void {
    const leave = this.vetting.get(request.ch);
    this.vetting.delete(request.ch);
    if (leave) this.owner.sendError('not_subscribed', leave.id);
    this.verdictCame(request.ch);
  }

  /** A verdict came: requests held behind it go on, or wait for the hub's answer to the join it started. */
  private verdictCame(ch: string): void {
    if (this.awaitedVetting !== ch) return;
    this.awaitedVetting = undefined;
    const sub = this.subs.get(ch);
    if (sub !== undefined && sub.joining && sub.leave !== undefined) this.awaited = sub;
    else this.owner.orderSettled();
  }

  private join(request: SubRequest, info: unknown, leave: { id: RequestId | undefined } | undefined): void {
    const { ctx, owner } = this;
    const channel = ctx.hub.channel(request.ch);
    if (channel === undefined) {
      owner.sendError('channel_limit', request.id);
      if (leave !== undefined) owner.sendError('not_subscribed', leave.id);
      return;
    }
    const sub = new Subscription(channel, owner.writer, request.id, this, owner.catchUp);
    sub.info = info;
    sub.leave = leave;
    if (!ctx.presence.admit(owner, request, sub)) {
      if (leave !== undefined) owner.sendError('not_subscribed', leave.id);
      return;
    }
    setUpKeyed(sub, request, ctx.contracts, owner.writer);
    this.subs.set(channel.name, sub);
    ctx.hub.subscribe(channel, sub, request.since, request.snapshot);
  }

  /**
   * The hub's answer to a `sub`: reply, then (on success) the hub delivers the replay. An `unsub`
   * that arrived meanwhile takes effect now, so requests act in the order they were sent.
   */
  joined(sub: Subscription, outcome: JoinOutcome): void {
    const { owner } = this;
    if (owner.isClosing) return;
    if (!outcome.ok) {
      this.subs.delete(sub.channel.name);
      owner.writer.forget(sub);
      this.ctx.presence.left(sub);
      owner.sendError(outcome.code, sub.requestId);
      // An unsub waiting on this join is answered; a revocation (no id) already was, by its own err.
      if (sub.leave?.id !== undefined) owner.sendError('not_subscribed', sub.leave.id);
    } else {
      const presence = this.ctx.presence.joined(sub);
      if (sub.requestId !== undefined) {
        const fields: Record<string, unknown> = { ch: sub.channel.name, epoch: outcome.epoch, seq: outcome.seq };
        if (outcome.recovered !== undefined) fields.recovered = outcome.recovered;
        if (outcome.snapshot === true) fields.snapshot = true;
        Object.assign(fields, keyedAckFields(sub));
        if (sub.info !== undefined) fields.info = sub.info;
        Object.assign(fields, presence);
        owner.writer.sendControl(encodeAck(sub.requestId, fields));
      }
      if (sub.leave !== undefined) this.leave(sub, sub.leave.id);
    }
    if (sub === this.awaited) {
      this.awaited = undefined;
      owner.orderSettled();
    }
  }

  unsubscribe(request: UnsubRequest): void {
    if (this.vetting.get(request.ch) === null) {
      this.vetting.set(request.ch, { id: request.id });
      return;
    }
    const sub = this.subs.get(request.ch);
    if (sub === undefined || sub.leave !== undefined) {
      this.owner.sendError('not_subscribed', request.id);
      return;
    }
    if (sub.joining) sub.leave = { id: request.id };
    else this.leave(sub, request.id);
  }

  revoke(allowed: (ch: string) => boolean): void {
    const { owner } = this;
    for (const sub of [...this.subs.values()]) {
      const ch = sub.channel.name;
      if (sub.leave !== undefined || allowed(ch)) continue;
      this.ctx.log.info({ conn: owner.id, ip: owner.ip, who: describeIdentity(owner.auth.identity), ch }, 'subscription revoked');
      if (sub.joining) sub.leave = { id: undefined };
      else this.leave(sub, undefined);
      owner.writer.sendControl(encodeRevoked(ch));
    }
  }

  private leave(sub: Subscription, id: RequestId | undefined): void {
    this.subs.delete(sub.channel.name);
    this.owner.writer.forget(sub);
    this.ctx.hub.unsubscribe(sub.channel, sub);
    this.ctx.presence.left(sub);
    if (id !== undefined) this.owner.writer.sendControl(encodeAck(id, { ch: sub.channel.name }));
  }

  /** Leaves every channel and forgets pending verdicts. Idempotent. */
  release(): void {
    for (const sub of this.subs.values()) {
      this.ctx.hub.unsubscribe(sub.channel, sub);
      this.ctx.presence.left(sub);
    }
    this.subs.clear();
    this.vetting.clear();
  }
}
