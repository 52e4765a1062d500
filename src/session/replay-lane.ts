import type { ShedReason } from '../protocol/policy.js';
import type { Publication } from '../stream/publication.js';
import { SnapshotCursor, snapshotCost, type KeyedSnapshot } from '../stream/snapshot.js';
import type { Clock } from '../util/clock.js';
import type { MemoryPool } from '../util/memory-budget.js';
import type { Paced, TurnAllowance } from './turn-allowance.js';
import type { ShedRun, Subscription } from './subscription.js';

/** Where a replay lane writes: its connection's outbound writer. */
export interface ReplayOutput extends Paced {
  /** The socket takes more (it is under its high-water mark). */
  readonly writable: boolean;
  writeText(text: string): void;
  writeData(pub: Publication, sub: Subscription): void;
  /** A message of `sub` was shed by its channel's policy: a `gap` will announce it. */
  noteShed(pub: Publication, sub: Subscription, reason: ShedReason): void;
  /** Announces shed runs taken from `sub`, in order (those before the message a replay writes next). */
  writeGaps(sub: Subscription, runs: readonly ShedRun[]): void;
}

export interface ReplayLaneDeps {
  readonly output: ReplayOutput;
  /** The process's allowance of replay bytes per loop turn, shared by every connection. */
  readonly pacer: TurnAllowance;
  /** This connection's share of replay bytes per loop turn (the socket's high-water mark). */
  readonly bytesPerTurn: number;
  /** The memory budget's replay pool (each publication counted once, however many replay it). */
  readonly pool: MemoryPool;
  /** Read to expire live messages older than their channel's `maxAgeMs`, as the queue does. */
  readonly clock: Clock;
}

/**
 * A resume's history (`pubs`), or a keyed channel's snapshot (`cursor`), written first; then the
 * live messages of the channel that arrived meanwhile (`live`).
 */
interface Replay {
  readonly sub: Subscription;
  readonly pubs: readonly Publication[];
  next: number;
  cursor?: SnapshotCursor | undefined;
  /** Holes (undefined) are live messages shed out of order (`conflated`, or the oldest behind a notice). */
  live: (Publication | undefined)[];
  /** The next live message to write: never a hole (or `live.length`). */
  liveNext: number;
  /** Live messages not written yet (`live` from `liveNext` on, holes aside). */
  liveWaiting: number;
  /**
   * On a `conflate` channel, each conflation key's live message not written yet: its index in
   * `live`. Created with the first keyed live message, dropped with the replay; one entry per live
   * message waiting at most, so bounded as they are.
   */
  byKey: Map<string, number> | undefined;
  /** Encoded bytes of the messages not written yet (`pubs` from `next` on, `live` from `liveNext` on). */
  unwritten: number;
  /** The most `unwritten` may reach before the client is a whole history behind (0: bounded by count only). */
  readonly maxBytes: number;
}

/** What became of a live message of a channel that may be replaying (`ReplayLane.follow`). */
export type Following = 'held' | 'shed' | 'behind' | 'none';

/**
 * A connection's replays not yet written, oldest first: resume histories and keyed snapshots, with
 * the live messages of their channels that arrive meanwhile behind them. Written after control
 * frames and before queued data (of other channels, which does not wait for them to end), while
 * the socket takes them: a bounded share per loop turn (within the process's allowance) for what
 * the replay owes, and on top of it as many bytes as live messages joined behind it, so a replay
 * always gains on a publisher its client keeps up with.
 */
export class ReplayLane {
  private replays: Replay[] = [];
  private heldBytes = 0;
  /** Replay bytes written this loop turn. */
  private turnBytes = 0;
  /**
   * Bytes of live messages that joined a replay and were not matched yet by bytes written beyond
   * the turn's share: written as they arrive, as a caught-up subscriber's would be (outside the
   * share and the process's allowance, which bound what the replay adds to the loop's work).
   */
  private followed = 0;

  constructor(private readonly deps: ReplayLaneDeps) {}

  /** Bytes of the replays not yet written (for the memory budget's choice of whom to close). */
  get bytes(): number {
    return this.heldBytes;
  }

  get empty(): boolean {
    return this.replays.length === 0;
  }

  /** `sub` has a replay not written yet. */
  has(sub: Subscription): boolean {
    return this.replays.some((r) => r.sub === sub);
  }

  /**
   * The publications are already held by the channel's history (bounded by its size), so they do
   * not count against the queue's limits: a replay larger than the queue — the usual case after a
   * slow-consumer disconnect — must not cut off again the client it restores.
   */
  add(pubs: readonly Publication[], sub: Subscription): void {
    let bytes = 0;
    for (const pub of pubs) {
      this.hold(pub);
      bytes += pub.bytes;
    }
    const { historyMaxBytes } = sub.channel.settings;
    // A broker whose history holds more bytes than the channel's bound must not cut off at once the client it restores.
    const maxBytes = historyMaxBytes === 0 ? 0 : Math.max(historyMaxBytes, bytes);
    this.replays.push({ sub, pubs: pubs.slice(), next: 0, live: [], liveNext: 0, liveWaiting: 0, byKey: undefined, unwritten: bytes, maxBytes });
  }

  /** The entry list is charged to the replay pool until the last chunk is written; `head`, a frame written before the first chunk. */
  addSnapshot(state: KeyedSnapshot, sub: Subscription, head?: string): void {
    this.deps.pool.add(snapshotCost(state));
    const cursor = new SnapshotCursor(sub.channel.name, state, sub.channel.settings.snapshotChunkBytes, head);
    // Behind a snapshot a client may be as many messages behind as it has keys: bounded by count only.
    this.replays.push({ sub, pubs: [], next: 0, cursor, live: [], liveNext: 0, liveWaiting: 0, byKey: undefined, unwritten: 0, maxBytes: 0 });
  }

  /**
   * A live message of a channel still replaying follows its replay (it is in the channel's history
   * too, like the replay itself): 'held'; 'none' when `sub` is not replaying. On a `conflate`
   * channel a keyed message replaces its key's live message still waiting (`conflated`), as in the
   * queue, at any depth: the lane holds the newest of every key. When the client is a
   * whole history behind (by count or bytes), the channel's policy decides, as for a queue, among
   * the live messages only (what a `recovered:true` resume replays is never shed): drop-oldest and
   * conflate shed the oldest live ones not written yet and hold this one ('held'), drop-newest sheds
   * this one ('shed'), each announced by a gap in its place; on a lossless channel the client cannot
   * catch up without loss: 'behind' (its connection is cut off, to resume again). A broker notice
   * (stream-repair: it has no channel of its own) is never shed: it announces a range of its own,
   * which shedding it would leave unannounced; the channel's policy sheds around it.
   */
  follow(pub: Publication, sub: Subscription): Following {
    const replay = this.replays.find((r) => r.sub === sub);
    if (replay === undefined) return 'none';
    const key = pub.conflationKey;
    if (key !== undefined) {
      const old = replay.byKey?.get(key);
      if (old !== undefined) this.shedLive(replay, old, 'conflated');
    }
    if (this.behind(replay, pub)) {
      switch (sub.channel.queuePolicy.policy) {
        case 'disconnect':
          return 'behind';
        case 'drop-newest':
          if (isNotice(pub)) break;
          this.deps.output.noteShed(pub, sub, 'dropped');
          return 'shed';
        default:
          this.shedOldest(replay, pub);
      }
    }
    compact(replay);
    this.hold(pub);
    if (key !== undefined) (replay.byKey ??= new Map()).set(key, replay.live.length);
    replay.live.push(pub);
    replay.liveWaiting++;
    replay.unwritten += pub.bytes;
    this.followed += pub.bytes;
    return 'held';
  }

  /** A new loop turn: this connection's share is renewed. */
  newTurn(): void {
    this.turnBytes = 0;
  }

  /**
   * Writes replays while the socket takes them: as many bytes as live messages followed them, then
   * a bounded share per loop turn so that a large replay never sits whole in user space, within
   * the process's allowance for the turn so that many replays at once never hold up the loop; true
   * when none is left.
   */
  pump(): boolean {
    const { pacer, output } = this.deps;
    while (output.writable && this.replays.length > 0) {
      if (this.followed > 0) {
        this.uncredit(this.writeNext());
        continue;
      }
      if (this.turnBytes >= this.deps.bytesPerTurn) {
        pacer.defer(output);
        return false;
      }
      if (!pacer.mayGo(output)) return false;
      const bytes = this.writeNext();
      this.turnBytes += bytes;
      pacer.spent(bytes);
    }
    if (this.replays.length > 0) return false;
    this.followed = 0;
    return true;
  }

  /** Drops the replays of `sub` (all of them when undefined), releasing what they have not written and the credit of their live messages. */
  drop(sub?: Subscription): void {
    if (this.replays.length === 0) return;
    for (const replay of this.replays) if (sub === undefined || replay.sub === sub) this.releaseUnwritten(replay);
    this.replays = sub === undefined ? [] : this.replays.filter((r) => r.sub !== sub);
    if (this.replays.length === 0) this.followed = 0;
  }

  /**
   * A live message that joined a replay will not be written (shed, or its replay dropped): the
   * credit it brought is taken back, so the credit never exceeds the bytes of live messages still
   * waiting, and a turn writes no more than its share beyond those.
   */
  private uncredit(bytes: number): void {
    this.followed = Math.max(0, this.followed - bytes);
  }

  /**
   * Writes the oldest replay's next chunk or message; returns its bytes. A live message older than
   * its channel's `maxAgeMs` is shed instead (`expired`), as the queue would; what the replay itself
   * owes is history, which never expires.
   */
  private writeNext(): number {
    const replay = this.replays[0]!;
    const { output } = this.deps;
    const cursor = replay.cursor;
    if (cursor !== undefined && !cursor.done) {
      const chunk = cursor.nextChunk();
      if (cursor.done) this.deps.pool.sub(snapshotCost(cursor.snapshot));
      output.writeText(chunk);
      if (cursor.done && replay.liveWaiting === 0) this.replays.shift();
      return chunk.length;
    }
    const live = replay.next === replay.pubs.length;
    const pub = live ? this.takeLive(replay, replay.liveNext) : replay.pubs[replay.next++]!;
    this.release(pub);
    replay.unwritten -= pub.bytes;
    const maxAge = pub.queuePolicy.maxAgeMs;
    const expired = live && maxAge > 0 && this.deps.clock() - pub.at > maxAge;
    if (expired) {
      this.uncredit(pub.bytes);
      output.noteShed(pub, replay.sub, 'expired');
    } else {
      if (replay.sub.hasGap) output.writeGaps(replay.sub, replay.sub.takeGapsBefore(pub));
      output.writeData(pub, replay.sub);
    }
    if (replay.next === replay.pubs.length && replay.liveWaiting === 0) this.replays.shift();
    else compact(replay);
    return expired ? 0 : pub.bytes;
  }

  /** Sheds the oldest live messages not written yet, broker notices aside, until `pub` fits. */
  private shedOldest(replay: Replay, pub: Publication): void {
    let i = replay.liveNext;
    while (this.behind(replay, pub)) {
      while (i < replay.live.length && (replay.live[i] === undefined || isNotice(replay.live[i]!))) i++;
      if (i === replay.live.length) break;
      this.shedLive(replay, i++, 'dropped');
    }
  }

  /** Sheds the live message at `i`, announced in its place (the caller compacts once it holds no index). */
  private shedLive(replay: Replay, i: number, reason: ShedReason): void {
    const pub = this.takeLive(replay, i);
    this.release(pub);
    replay.unwritten -= pub.bytes;
    this.uncredit(pub.bytes);
    this.deps.output.noteShed(pub, replay.sub, reason);
  }

  /** Takes the live message at `i` out of the replay (a hole where it stood, skipped to the next one at the front). */
  private takeLive(replay: Replay, i: number): Publication {
    const { live } = replay;
    const pub = live[i]!;
    live[i] = undefined;
    replay.liveWaiting--;
    const key = pub.conflationKey;
    if (key !== undefined && replay.byKey?.get(key) === i) replay.byKey.delete(key);
    while (replay.liveNext < live.length && live[replay.liveNext] === undefined) replay.liveNext++;
    return pub;
  }

  /** Taking `pub` too would put the client more than a whole history behind. */
  private behind(replay: Replay, pub: Publication): boolean {
    const count = Math.max(1, replay.sub.channel.settings.historySize) + (replay.cursor?.snapshot.entries.length ?? 0);
    const waiting = replay.pubs.length - replay.next + replay.liveWaiting;
    return waiting >= count || (replay.maxBytes > 0 && replay.unwritten + pub.bytes > replay.maxBytes);
  }

  private hold(pub: Publication): void {
    this.heldBytes += pub.bytes;
    if (pub.replaying++ === 0) this.deps.pool.add(pub.cost);
  }

  private release(pub: Publication): void {
    this.heldBytes -= pub.bytes;
    if (--pub.replaying === 0) this.deps.pool.sub(pub.cost);
  }

  private releaseUnwritten(replay: Replay): void {
    if (replay.cursor !== undefined && !replay.cursor.done) this.deps.pool.sub(snapshotCost(replay.cursor.snapshot));
    for (let i = replay.next; i < replay.pubs.length; i++) this.release(replay.pubs[i]!);
    for (let i = replay.liveNext; i < replay.live.length; i++) {
      const pub = replay.live[i];
      if (pub === undefined) continue;
      this.release(pub);
      this.uncredit(pub.bytes);
    }
  }
}

/** A broker notice (stream-repair): handed to subscribers without a channel of its own, so that no policy sheds it. */
function isNotice(pub: Publication): boolean {
  return pub.channel === '';
}

/**
 * A client that keeps pace without ever catching up, or whose replay sheds, must not pin what was
 * written or shed: once that is at least 1024 entries and half of `live`, the live messages still
 * waiting move to a new array (and their keys' indexes with them), amortised O(1) per entry.
 */
function compact(replay: Replay): void {
  const gone = replay.live.length - replay.liveWaiting;
  if (gone < 1024 || gone * 2 < replay.live.length) return;
  const live: Publication[] = [];
  for (let i = replay.liveNext; i < replay.live.length; i++) {
    const pub = replay.live[i];
    if (pub === undefined) continue;
    if (pub.conflationKey !== undefined && replay.byKey?.get(pub.conflationKey) === i) replay.byKey.set(pub.conflationKey, live.length);
    live.push(pub);
  }
  replay.live = live;
  replay.liveNext = 0;
}
