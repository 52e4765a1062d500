import { describeIdentity, type Identity } from '../auth/identity.js';
import type { JwtVerifier } from '../auth/jwt-verifier.js';
import type { Permissions, Refusal } from '../auth/permissions.js';
import { StrikeCounter } from '../flow/strikes.js';
import type { Logger } from '../observability/logger.js';
import type { Stats } from '../observability/stats.js';
import type { CloseName } from '../protocol/close-codes.js';
import type { ErrorCode } from '../protocol/errors.js';
import { encodeAck } from '../protocol/frames.js';
import type { AuthRequest, RequestId } from '../protocol/requests.js';
import type { Clock } from '../util/clock.js';
import type { HookClient } from '../hooks/hook-client.js';
import type { RefreshAnswer } from '../hooks/messages.js';
import type { SessionSettings } from './settings.js';

/** What connection auth needs of the gateway: one instance shared by every connection. */
export interface AuthContext {
  readonly settings: SessionSettings;
  readonly permissions: Permissions;
  /** Verifies in-band token refreshes; undefined when auth is off. */
  readonly verifier: JwtVerifier | undefined;
  readonly stats: Stats;
  readonly log: Logger;
  readonly clock: Clock;
  /** The application's refresh hook, asked instead of closing when a connection expires (docs/hooks.md). */
  readonly refreshHook?: HookClient<RefreshAnswer> | undefined;
}

/** The connection it answers for (a back-reference, so no closure is allocated per connection). */
export interface AuthOwner {
  readonly id: string;
  readonly ip: string;
  readonly isClosing: boolean;
  readonly writer: { sendControl(text: string): void };
  sendError(code: ErrorCode, id?: RequestId, message?: string): void;
  close(name: CloseName): void;
  /** Drops (and announces) the subscriptions for which `allowed` is false. */
  revokeSubscriptions(allowed: (ch: string) => boolean): void;
}

/**
 * One connection's identity and what it may do: permission checks for `sub`/`pub` (a refusal is
 * answered `forbidden`, logged with who and what, and counted as a strike: enough of them close
 * the connection with 4003), in-band token refresh, and expiry (closed 4001 by the housekeeping
 * sweep, never by a timer of its own).
 */
export class ConnectionAuth {
  private current: Identity;
  /** An in-band refresh is being verified. */
  private refreshing = false;
  private readonly strikes: StrikeCounter;

  constructor(
    identity: Identity,
    private readonly ctx: AuthContext,
    private readonly owner: AuthOwner,
  ) {
    this.current = identity;
    this.strikes = new StrikeCounter(ctx.settings.forbiddenStrikes, ctx.settings.inbound.strikeWindowMs, ctx.clock);
  }

  get identity(): Identity {
    return this.current;
  }

  /** True when allowed; otherwise the refusal has been answered. */
  maySubscribe(ch: string, id: RequestId | undefined): boolean {
    const refusal = this.ctx.permissions.canSubscribe(this.current, ch);
    if (refusal === undefined) return true;
    this.forbidden('sub', ch, refusal, id);
    return false;
  }

  /** Listing members and counts (docs/presence.md). True when allowed; otherwise the refusal has been answered. */
  mayWatch(ch: string, id: RequestId | undefined): boolean {
    const refusal = this.ctx.permissions.canSeePresence(this.current, ch);
    if (refusal === undefined) return true;
    this.forbidden('presence', ch, refusal, id);
    return false;
  }

  /** True when allowed; otherwise the refusal has been answered. */
  mayPublish(ch: string, id: RequestId | undefined): boolean {
    const refusal = this.ctx.permissions.canPublish(this.current, ch);
    if (refusal === undefined) return true;
    this.forbidden('pub', ch, refusal, id);
    return false;
  }

  /**
   * Replaces the token. The new one must verify and name the same subject (an anonymous
   * connection may authenticate); until it is verified the old identity stays in force. Once it
   * is, subscriptions it does not cover are revoked.
   */
  refresh(request: AuthRequest): void {
    const { verifier } = this.ctx;
    const owner = this.owner;
    if (verifier === undefined) {
      if (request.id !== undefined) owner.writer.sendControl(encodeAck(request.id));
      return;
    }
    if (this.refreshing) {
      owner.sendError('too_many_requests', request.id, 'a token refresh is already being verified');
      return;
    }
    this.refreshing = true;
    void verifier.verify(request.token).then((result) => {
      this.refreshing = false;
      if (owner.isClosing) return;
      if (!result.ok) {
        this.ctx.stats.authFailures++;
        this.ctx.log.info({ conn: owner.id, ip: owner.ip, who: describeIdentity(this.current), reason: result.reason }, 'token refresh refused');
        owner.sendError('unauthorized', request.id, result.reason);
        return;
      }
      if (this.current.authenticated && result.identity.sub !== this.current.sub) {
        this.forbidden('auth', '-', 'token names another subject', request.id);
        return;
      }
      this.current = result.identity;
      owner.revokeSubscriptions((ch) => this.ctx.permissions.canSubscribe(this.current, ch) === undefined);
      if (request.id !== undefined) {
        const exp = Number.isFinite(result.identity.expiresAt) ? { exp: Math.floor(result.identity.expiresAt / 1000) } : undefined;
        owner.writer.sendControl(encodeAck(request.id, exp));
      }
    });
  }

  /** For the housekeeping sweep: closes the connection with 4001 if its token expired before `t`. */
  expireIfBefore(t: number): boolean {
    if (this.current.expiresAt >= t || this.owner.isClosing) return false;
    const hook = this.ctx.refreshHook;
    if (hook !== undefined) {
      if (!this.refreshing) this.refreshByHook(hook);
      return false;
    }
    this.ctx.log.info({ conn: this.owner.id, ip: this.owner.ip, who: describeIdentity(this.current) }, 'token expired');
    this.owner.close('unauthorized');
    return true;
  }

  /**
   * Asks the refresh hook to extend an expired connection: allowed, it lives on (until the new
   * expiry, or for good without one); refused, it is closed with 4001; unanswered, a fail-open
   * hook is asked again at the next sweep, a fail-closed one closes it with 4104 (reconnect later);
   * a call refused at the hook's `maxConcurrent` is made again at the next sweep.
   */
  private refreshByHook(hook: HookClient<RefreshAnswer>): void {
    const owner = this.owner;
    this.refreshing = true;
    const { sub, info } = this.current;
    void hook.call(JSON.stringify({ conn: owner.id, ip: owner.ip, sub, info })).then((verdict) => {
      this.refreshing = false;
      if (owner.isClosing) return;
      const who = describeIdentity(this.current);
      if (!verdict.ok) {
        // At its concurrency bound the gateway, not the backend, is the limit (a sweep after a burst
        // of connects asks for all of them at once): the connection is asked for at the next sweep.
        if (hook.failOpen || verdict.why === 'busy') return;
        this.ctx.log.info({ conn: owner.id, ip: owner.ip, who, why: verdict.why }, 'refresh hook unavailable: connection closed');
        owner.close('backend_unavailable');
        return;
      }
      const answer = verdict.answer;
      if (!answer.allow) {
        this.ctx.log.info({ conn: owner.id, ip: owner.ip, who, reason: answer.reason }, 'refresh refused by the application');
        owner.close('unauthorized');
        return;
      }
      const expiresAt = answer.expireInSec === undefined ? Infinity : this.ctx.clock() + answer.expireInSec * 1000;
      this.current = { ...this.current, expiresAt, info: answer.info ?? this.current.info };
    });
  }

  private forbidden(op: string, ch: string, reason: NonNullable<Refusal>, id: RequestId | undefined): void {
    this.ctx.stats.forbidden++;
    this.ctx.log.info({ conn: this.owner.id, ip: this.owner.ip, who: describeIdentity(this.current), op, ch, reason }, 'forbidden');
    if (this.strikes.hit()) {
      this.owner.close('forbidden');
      return;
    }
    this.owner.sendError('forbidden', id);
  }
}
