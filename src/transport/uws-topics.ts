import type { TopicFanOut } from '../net/server.js';
import type { PreparedFrame } from '../net/socket.js';
import type { UwsApp, UwsWebSocket } from './uws-api.js';
import { inFlush, offTurnStart, onTurnStart, scheduleTurn } from './uws-turn.js';

/** A socket as its topics see it. */
export interface TopicMember {
  /** Reads uWS's backpressure for the socket: at the high-water mark it stops taking topic frames. */
  checkBackpressure(): void;
}

/**
 * uWS writes a member's pending publications on the spot at its 33rd (uncorked when another socket
 * holds the cork: one syscall per frame), so a topic takes at most this many per turn; the turn's
 * later publications are written per socket.
 */
export const TOPIC_PUBLICATIONS_PER_TURN = 31;

/**
 * Nor more than this many bytes per turn: uWS writes a member's pending publications into the cork
 * of the first run the adapter writes to it (UWS_CORK_BYTES, 16 KiB); what does not fit there goes
 * out one syscall per frame. Half of it leaves the run room (UwsSocket.flush).
 */
export const TOPIC_BYTES_PER_TURN = 8 * 1024;

/**
 * A heavy topic (one offered more than a turn's share) stays per subscriber until a turn offers it
 * no more than this: at high rates a channel whose turns go back and forth between a topic share
 * and per-subscriber runs costs its members two writes a turn instead of one.
 */
export const TOPIC_LIGHT_PUBLICATIONS = 4;
export const TOPIC_LIGHT_BYTES = 2 * 1024;

/**
 * Every socket that joins a topic is in this one too until it closes: uWS discards what is pending
 * for a socket when it leaves its last topic, and a socket leaving a channel must still get what
 * was published to it before. Never published to; a space is not allowed in a channel name.
 */
export const ANCHOR_TOPIC = ' anchor';

const NONE: readonly string[] = [];

class Topic {
  readonly members = new Set<TopicMember>();
  /** Publications in this turn, and their bytes (see TOPIC_PUBLICATIONS_PER_TURN, TOPIC_BYTES_PER_TURN). */
  turn = 0;
  turnBytes = 0;
  /** Publications offered in this turn, and their bytes: taken or not. */
  offered = 0;
  offeredBytes = 0;
  /** A turn offered more than the topic takes, and none since was light: it takes none (see UwsTopics.publish). */
  heavy = false;
  /** Bytes published since the members' backpressure was last read. */
  unchecked = 0;
}

/**
 * The uws transport's topics: one per channel with caught-up subscribers. A publication is handed
 * to uWS at the start of the turn's flush (never from a uWS handler, where the socket being read
 * holds the cork), before any socket's own frames of the turn: those were written after it, and
 * uWS writes a member's pending publications before anything it sends the member. Handing one to
 * uWS earlier than that is always safe, and is done before a socket joins or leaves a topic, so a
 * joiner gets nothing published before it joined and a leaver everything published before it left.
 *
 * uWS drops a frame above maxBackpressure without a word, so it must never get there: at each
 * turn's flush that published several to a topic, and every `checkBytes` published to it, its members'
 * backpressure is read, and a member uWS holds anything for stops taking topic frames until it
 * drains (uWS would write each to it with its own syscall, and it must stay far below the limit);
 * the transport's maxBackpressure leaves room for twice that per topic a socket can join (`headroom`).
 */
export class UwsTopics implements TopicFanOut {
  private readonly topics = new Map<string, Topic>();
  /** The topics each member joined. */
  private readonly joined = new Map<TopicMember, string[]>();
  /** The turn's publications not handed to uWS yet, in order, and the topics they used. */
  private readonly names: string[] = [];
  private readonly frames: PreparedFrame[] = [];
  private readonly sizes: number[] = [];
  private readonly used: Topic[] = [];
  private readonly heavy: Topic[] = [];
  private readonly turnStart = (): void => {
    this.issue();
    let kept = 0;
    for (const topic of this.heavy) {
      if (topic.offered <= TOPIC_LIGHT_PUBLICATIONS && topic.offeredBytes <= TOPIC_LIGHT_BYTES) topic.heavy = false;
      else this.heavy[kept++] = topic;
    }
    this.heavy.length = kept;
    for (const topic of this.used) {
      // A member uWS holds frames for (written last turn, not taken by the kernel) takes no more through
      // topics: read after a turn that took several, as uWS writes each of a turn's frames to such a
      // member with its own syscall. After a turn of one, every member gets one syscall for it anyway,
      // so reading all of them (a call into uWS each) would cost the most where it saves nothing; the
      // byte count (`checkBytes`) still bounds what uWS can hold for any of them.
      if (topic.turn > 1) for (const member of topic.members) member.checkBackpressure();
      if (!topic.heavy && (topic.offered > TOPIC_PUBLICATIONS_PER_TURN || topic.offeredBytes > TOPIC_BYTES_PER_TURN)) {
        topic.heavy = true;
        this.heavy.push(topic);
      }
      topic.turn = topic.turnBytes = topic.offered = topic.offeredBytes = 0;
    }
    this.used.length = 0;
  };

  constructor(
    private readonly app: UwsApp,
    private readonly compress: boolean,
    private readonly checkBytes: number,
  ) {
    onTurnStart(this.turnStart);
  }

  /** What maxBackpressure must be at least, besides what the adapter alone can build up. */
  static headroom(checkBytes: number, maxFrameBytes: number, topicsPerSocket: number): number {
    return 2 * topicsPerSocket * (checkBytes + maxFrameBytes);
  }

  /**
   * A channel that offered its topic more than a turn's share in the last turn publishes per
   * subscriber for this one: at such rates the adapter's cork runs write a turn's frames in fewer
   * syscalls than a topic share followed by per-subscriber runs.
   */
  publish(name: string, frame: PreparedFrame, bytes: number): boolean {
    const topic = this.topics.get(name);
    if (topic === undefined) return false;
    if (topic.offered++ === 0) {
      this.used.push(topic);
      scheduleTurn();
    }
    topic.offeredBytes += bytes;
    if (topic.heavy || topic.turn === TOPIC_PUBLICATIONS_PER_TURN || topic.turnBytes + bytes > TOPIC_BYTES_PER_TURN) return false;
    topic.turn++;
    topic.turnBytes += bytes;
    if (inFlush()) this.send(name, topic, frame, bytes);
    else {
      this.names.push(name);
      this.frames.push(frame);
      this.sizes.push(bytes);
    }
    return true;
  }

  join(member: TopicMember, ws: UwsWebSocket<unknown>, name: string): void {
    this.issue();
    let joined = this.joined.get(member);
    if (joined === undefined) {
      this.joined.set(member, (joined = []));
      ws.subscribe(ANCHOR_TOPIC);
    }
    joined.push(name);
    let topic = this.topics.get(name);
    if (topic === undefined) this.topics.set(name, (topic = new Topic()));
    topic.members.add(member);
    ws.subscribe(name);
  }

  leave(member: TopicMember, ws: UwsWebSocket<unknown>, name: string): void {
    const joined = this.joined.get(member);
    const i = joined === undefined ? -1 : joined.indexOf(name);
    if (i < 0) return;
    joined!.splice(i, 1);
    this.issue();
    ws.unsubscribe(name);
    this.forget(member, name);
  }

  /** The member's socket closed: uWS took it out of every topic itself. */
  closed(member: TopicMember): void {
    for (const name of this.joined.get(member) ?? []) this.forget(member, name);
    this.joined.delete(member);
  }

  /** Whether the member is in a topic that takes publications (not heavy): only then can its being caught up matter. */
  takesAny(member: TopicMember): boolean {
    for (const name of this.joined.get(member) ?? NONE) if (!this.topics.get(name)!.heavy) return true;
    return false;
  }

  /** Bytes of this turn's publications to the member's topics: uWS holds them for it until its next write, or its drain. */
  pendingFor(member: TopicMember): number {
    // Called at every flush of every socket: nothing to look up in a turn no topic published in.
    if (this.used.length === 0) return 0;
    let bytes = 0;
    for (const name of this.joined.get(member) ?? NONE) bytes += this.topics.get(name)!.turnBytes;
    return bytes;
  }

  /** Hands the turn's publications to uWS, in order (at the flush, or earlier: see the class). */
  issue(): void {
    const { names, frames, sizes } = this;
    for (let i = 0; i < names.length; i++) {
      const topic = this.topics.get(names[i]!);
      if (topic !== undefined) this.send(names[i]!, topic, frames[i], sizes[i]!);
    }
    names.length = frames.length = sizes.length = 0;
  }

  close(): void {
    offTurnStart(this.turnStart);
  }

  private forget(member: TopicMember, name: string): void {
    const topic = this.topics.get(name)!;
    topic.members.delete(member);
    if (topic.members.size === 0) this.topics.delete(name);
  }

  private send(name: string, topic: Topic, frame: PreparedFrame, bytes: number): void {
    this.app.publish(name, frame as Buffer, false, this.compress);
    topic.unchecked += bytes;
    if (topic.unchecked < this.checkBytes) return;
    topic.unchecked = 0;
    for (const member of topic.members) member.checkBackpressure();
  }
}
