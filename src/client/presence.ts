/** A member of a presence channel (docs/presence.md): an identity, its connections, its info. */
export interface PresenceMember {
  readonly id: string;
  /** Its connections subscribed to the channel (known from a listing; events do not carry it). */
  readonly conns?: number;
  readonly info?: unknown;
}

/** The presence part of `subscribe` options. */
export interface PresenceOptions {
  /** Receive joins, leaves and occupancy (`onJoin`, `onLeave`, `onOccupancy`), and keep `members` up to date. */
  presence?: boolean;
  /** Receive only the count (`onOccupancy`). */
  occupancy?: boolean;
  /** This connection's member info (a JSON object, within the channel's `maxInfoBytes`). */
  info?: Record<string, unknown>;
  onJoin?: (member: PresenceMember) => void;
  onLeave?: (member: PresenceMember) => void;
  onOccupancy?: (total: number) => void;
}

/** Sends one request and resolves with its `ack` (rejects with the `err`). */
export type Query = (frame: Record<string, unknown>) => Promise<Record<string, any>>;

/** Calls an application handler so that a throwing one cannot break the client. */
export type Call = <A>(handler: ((arg: A) => void) | undefined, arg: A) => void;

/**
 * One subscription's view of its channel's members. Events are applied to `members` as they
 * come; a listing (asked for by the application, after a reconnect, or on a `resync` notice)
 * replaces it, reporting only the differences through `onJoin`/`onLeave`: joins are never
 * replayed, and the picture is the server's as of the listing, corrected by every later event.
 */
export class PresenceView {
  readonly members = new Map<string, PresenceMember>();
  total: number | undefined;
  private listing: Promise<PresenceMember[]> | undefined;

  constructor(
    private readonly channel: string,
    private readonly options: PresenceOptions,
    private readonly query: Query,
    private readonly call: Call,
  ) {}

  get watching(): boolean {
    return this.options.presence === true;
  }

  /** The fields of the `sub` request. */
  requestFields(frame: Record<string, unknown>): void {
    if (this.options.presence === true) frame.presence = true;
    else if (this.options.occupancy === true) frame.occupancy = true;
    if (this.options.info !== undefined) frame.info = this.options.info;
  }

  /** The `sub` ack: the count; after a reconnect, a fresh listing instead of replayed joins. */
  acknowledged(total: unknown, reconnected: boolean): void {
    if (typeof total === 'number') this.count(total);
    if (reconnected && this.watching) void this.list().catch(() => {});
  }

  /** A `presence` or `occupancy` frame of this channel. */
  frame(frame: Record<string, any>): void {
    if (frame.ev === 'occupancy') return this.count(frame.total as number);
    if (frame.resync === true) {
      void this.list().catch(() => {});
      return;
    }
    for (const m of (frame.join as PresenceMember[] | undefined) ?? []) this.join(m);
    for (const id of (frame.leave as string[] | undefined) ?? []) this.leave(id);
  }

  /** Every member, listed page by page; shared by concurrent callers. */
  list(): Promise<PresenceMember[]> {
    this.listing ??= this.fetch().finally(() => (this.listing = undefined));
    return this.listing;
  }

  private async fetch(): Promise<PresenceMember[]> {
    const all: PresenceMember[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.query({ op: 'presence', ch: this.channel, ...(cursor === undefined ? {} : { cursor }) });
      all.push(...(page.members as PresenceMember[]));
      cursor = page.cursor as string | undefined;
      if (typeof page.total === 'number') this.count(page.total);
    } while (cursor !== undefined);
    if (this.watching) this.replace(all);
    return all;
  }

  private replace(listed: readonly PresenceMember[]): void {
    const fresh = new Map(listed.map((m) => [m.id, m]));
    for (const [id, m] of this.members) if (!fresh.has(id)) this.leave(id, m);
    for (const m of listed) {
      if (this.members.has(m.id)) this.members.set(m.id, m);
      else this.join(m);
    }
  }

  private join(member: PresenceMember): void {
    const known = this.members.has(member.id);
    this.members.set(member.id, member);
    if (!known) this.call(this.options.onJoin, member);
  }

  private leave(id: string, member = this.members.get(id)): void {
    if (member === undefined) return;
    this.members.delete(id);
    this.call(this.options.onLeave, member);
  }

  private count(total: number): void {
    if (total === this.total) return;
    this.total = total;
    this.call(this.options.onOccupancy, total);
  }
}
