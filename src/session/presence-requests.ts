import type { ErrorCode } from '../protocol/errors.js';
import { encodeAck } from '../protocol/frames.js';
import { encodePresencePage } from '../protocol/presence-frames.js';
import type { OccupancyRequest, PresenceRequest, RequestId, SubRequest } from '../protocol/requests.js';
import type { Presence } from '../presence/presence.js';
import type { Subscription } from './subscription.js';

/** What presence needs of a connection. */
export interface PresenceMember {
  readonly id: string;
  readonly auth: {
    readonly identity: { readonly sub: string | undefined };
    /** True when the connection may list members and counts of `ch`; otherwise the refusal has been answered. */
    mayWatch(ch: string, id: RequestId | undefined): boolean;
  };
  readonly writer: { sendControl(text: string): void };
  sendError(code: ErrorCode, id?: RequestId, message?: string): void;
}

/**
 * A connection's side of presence (docs/presence.md): the `presence` and `occupancy` requests,
 * and what a `sub` to a presence channel does — counts the connection's identity as a member
 * (refusing past `maxMembers` or an oversized `info`), and registers the watcher once joined.
 * One instance per gateway, shared by every connection.
 */
export class SessionPresence {
  constructor(
    private readonly presence: Presence,
    /** Appended to connection ids (anonymous members) so they are unique across nodes: `@<node>` on Redis. */
    private readonly nodeSuffix = '',
  ) {}

  request(conn: PresenceMember, request: PresenceRequest | OccupancyRequest): void {
    const { ch, id } = request;
    if (!this.presence.settingsFor(ch).presence) {
      conn.sendError('presence_off', id);
      return;
    }
    if (!conn.auth.mayWatch(ch, id) || id === undefined) return;
    const loading = this.presence.prepare(ch);
    if (loading === undefined) this.answer(conn, request, id);
    else void loading.then(() => this.answer(conn, request, id));
  }

  private answer(conn: PresenceMember, request: PresenceRequest | OccupancyRequest, id: RequestId): void {
    const { ch } = request;
    if (request.op === 'occupancy') {
      conn.writer.sendControl(encodeAck(id, { ch, total: this.presence.total(ch) }));
      return;
    }
    const page = this.presence.page(ch, request.cursor, request.limit);
    if (!page.ok) conn.sendError(page.code, id);
    else conn.writer.sendControl(encodePresencePage(id, ch, page.total, page.members, page.cursor));
  }

  /**
   * Before a `sub` is made: refuses what presence does not allow (answered), else counts the
   * subscription's identity as a member of a presence channel. False when refused.
   */
  admit(conn: PresenceMember, request: SubRequest, sub: Subscription): boolean {
    const settings = sub.channel.settings;
    const watch = request.presence === true ? 'presence' : request.occupancy === true ? 'occupancy' : undefined;
    if (!settings.presence) {
      if (watch === undefined) return true;
      conn.sendError('presence_off', request.id);
      return false;
    }
    if (watch !== undefined && !conn.auth.mayWatch(request.ch, request.id)) return false;
    let info: string | undefined;
    if (request.info !== undefined) {
      info = JSON.stringify(request.info);
      if (Buffer.byteLength(info) > settings.maxInfoBytes) {
        conn.sendError('info_too_large', request.id, `info exceeds ${settings.maxInfoBytes} bytes`);
        return false;
      }
    }
    const member = conn.auth.identity.sub ?? conn.id + this.nodeSuffix;
    if (!this.presence.admits(request.ch, settings, member)) {
      conn.sendError('member_limit', request.id);
      return false;
    }
    this.presence.join(request.ch, settings, member, info);
    sub.member = member;
    sub.watch = watch;
    return true;
  }

  /** The subscription is made: its watcher starts receiving frames. The ack's extra fields. */
  joined(sub: Subscription): { total: number } | undefined {
    if (sub.member === undefined) return undefined;
    if (sub.watch !== undefined) this.presence.watch(sub.channel.name, sub.channel.settings, sub, sub.watch);
    return { total: this.presence.total(sub.channel.name) };
  }

  /** The subscription ended (or failed): its identity has one connection fewer. */
  left(sub: Subscription): void {
    if (sub.member === undefined) return;
    if (sub.watch !== undefined) this.presence.unwatch(sub.channel.name, sub);
    this.presence.leave(sub.channel.name, sub.member);
    sub.member = undefined;
  }
}
