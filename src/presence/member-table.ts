/** One member of a channel: an identity with at least one connection subscribed. */
export interface Member {
  readonly id: string;
  /** Connections of this identity subscribed to the channel (summed over nodes on Redis). */
  conns: number;
  /** The member's `info` as JSON text, as given by the subscription that made it a member. */
  readonly info: string | undefined;
  /** Its place in join order: pages and cursors follow it. */
  readonly serial: number;
}

/** What changed since the previous `takeChanges`, coalesced: each identity at most once. */
export interface Changes {
  readonly joins: readonly Member[];
  readonly leaves: readonly string[];
}

export interface Page {
  readonly members: readonly Member[];
  /** The serial to continue after, when the page is full (more may follow). */
  readonly next: number | undefined;
}

/** Holes in the join-order array tolerated before it is compacted (amortised O(1) per removal). */
const MIN_HOLES_TO_COMPACT = 64;

/**
 * One channel's members: the identities with at least one connection, each with its connection
 * count, in join order. Pure (no clock, no I/O): the node feeds it connection changes, local or
 * replicated from other nodes, and takes the coalesced joins and leaves once per interval.
 *
 * `size` is O(1); a page is a binary search plus a walk of its length (holes left by leaves are
 * compacted once they outnumber the members), so a page of a 100,000-member table costs what a page
 * of a small one does.
 */
export class MemberTable {
  private readonly members = new Map<string, Member>();
  /** Members by ascending serial, and those that left (conns 0) until compaction. */
  private order: Member[] = [];
  private holes = 0;
  private nextSerial = 1;
  private totalConns = 0;
  /** Identities changed since the last take, with whether each was a member then (insertion order). */
  private readonly pending = new Map<string, boolean>();

  get size(): number {
    return this.members.size;
  }

  get conns(): number {
    return this.totalConns;
  }

  /** Identities with a change not taken yet. */
  get changed(): number {
    return this.pending.size;
  }

  get(id: string): Member | undefined {
    return this.members.get(id);
  }

  /**
   * Adds `delta` connections to an identity (negative: removes them); it becomes a member above
   * zero and stops being one at zero. `info` is kept only when this makes it a member. True when
   * membership changed.
   */
  change(id: string, delta: number, info?: string): boolean {
    if (delta === 0) return false;
    const member = this.members.get(id);
    if (!this.pending.has(id)) this.pending.set(id, member !== undefined);
    if (member !== undefined) {
      const conns = Math.max(0, member.conns + delta);
      this.totalConns += conns - member.conns;
      member.conns = conns;
      if (conns > 0) return false;
      this.remove(member);
      return true;
    }
    if (delta < 0) return false;
    const added: Member = { id, conns: delta, info, serial: this.nextSerial++ };
    this.members.set(id, added);
    this.order.push(added);
    this.totalConns += delta;
    return true;
  }

  /** Up to `limit` members joined after `after` (a serial; 0 for the first page), in join order. */
  page(after: number, limit: number): Page {
    const members: Member[] = [];
    const order = this.order;
    for (let i = this.firstAfter(after); i < order.length && members.length < limit; i++) {
      const member = order[i]!;
      if (member.conns > 0) members.push(member);
    }
    return { members, next: members.length === limit && limit > 0 ? members[members.length - 1]!.serial : undefined };
  }

  /**
   * The joins and leaves since the previous take: an identity that is a member now and was not
   * then joined; one that was and is not left; one that joined and left (or left and came back)
   * produced nothing. At most `max` entries are taken; the others stay for the next take.
   */
  takeChanges(max: number): Changes {
    const joins: Member[] = [];
    const leaves: string[] = [];
    for (const [id, was] of this.pending) {
      if (joins.length + leaves.length >= max) break;
      this.pending.delete(id);
      const member = this.members.get(id);
      if (member !== undefined && !was) joins.push(member);
      else if (member === undefined && was) leaves.push(id);
    }
    return { joins, leaves };
  }

  /** Every member, in join order (for snapshots and tests; O(n)). */
  *all(): IterableIterator<Member> {
    for (const member of this.order) if (member.conns > 0) yield member;
  }

  private remove(member: Member): void {
    // The member stays in `order` as a hole (conns 0) until compaction: serials stay searchable.
    this.members.delete(member.id);
    if (++this.holes >= MIN_HOLES_TO_COMPACT && this.holes > this.members.size) {
      this.order = this.order.filter((m) => m.conns > 0);
      this.holes = 0;
    }
  }

  /** Index of the first entry of `order` whose serial is above `serial`. */
  private firstAfter(serial: number): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.order[mid]!.serial > serial) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
