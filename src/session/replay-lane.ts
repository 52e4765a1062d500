import type { Publication } from '../stream/publication.js';
import { SnapshotCursor, snapshotCost, type KeyedSnapshot } from '../stream/snapshot.js';
import type { MemoryPool } from '../util/memory-budget.js';
import type { Paced, TurnAllowance } from './turn-allowance.js';
import type { Subscription } from './subscription.js';

/** Where a replay lane writes: its connection's outbound writer. */
export interface ReplayOutput extends Paced {
  /** The socket takes more (it is under its high-water mark). */
  readonly writable: boolean;
  writeText(text: string): void;
  writeData(pub: Publication, sub: Subscription): void;
}

export interface ReplayLaneDeps {
  readonly output: ReplayOutput;
  /** The process's allowance of replay bytes per loop turn, shared by every connection. */
  readonly pacer: TurnAllowance;
  /** This connection's share of replay bytes per loop turn (the socket's high-water mark). */
  readonly bytesPerTurn: number;
  /** The memory budget's replay pool (each publication counted once, however many replay it). */
  readonly pool: MemoryPool;
}

/** A resume's history, or a keyed channel's snapshot (`cursor`, written first), then the live messages behind it. */
type Replay = { readonly sub: Subscription; readonly pubs: Publication[]; next: number; cursor?: SnapshotCursor | undefined };

/**
 * A connection's replays not yet written, oldest first: resume histories and keyed snapshots, with
 * the live messages of their channels that arrive meanwhile behind them. Written after control
 * frames and before queued data, a bounded share per loop turn.
 */
export class ReplayLane {
  private replays: Replay[] = [];
  private heldBytes = 0;
  /** Replay bytes written this loop turn. */
  private turnBytes = 0;

  constructor(private readonly deps: ReplayLaneDeps) {}

  /** Bytes of the replays not yet written (for the memory budget's choice of whom to close). */
  get bytes(): number {
    return this.heldBytes;
  }

  get empty(): boolean {
    return this.replays.length === 0;
  }

  /**
   * The publications are already held by the channel's history (bounded by its size), so they do
   * not count against the queue's limits: a replay larger than the queue — the usual case after a
   * slow-consumer disconnect — must not cut off again the client it restores.
   */
  add(pubs: readonly Publication[], sub: Subscription): void {
    for (const pub of pubs) this.hold(pub);
    this.replays.push({ sub, pubs: pubs.slice(), next: 0 });
  }

  /** The entry list is charged to the replay pool until the last chunk is written; `head`, a frame written before the first chunk. */
  addSnapshot(state: KeyedSnapshot, sub: Subscription, head?: string): void {
    this.deps.pool.add(snapshotCost(state));
    this.replays.push({ sub, pubs: [], next: 0, cursor: new SnapshotCursor(sub.channel.name, state, sub.channel.settings.snapshotChunkBytes, head) });
  }

  /**
   * A live message of a channel still replaying follows its replay (it is in the channel's history
   * too, like the replay itself): 'held'; 'behind' when the client is more than a whole history
   * behind and cannot catch up without loss; 'none' when `sub` is not replaying.
   */
  follow(pub: Publication, sub: Subscription): 'held' | 'behind' | 'none' {
    const replay = this.replays.find((r) => r.sub === sub);
    if (replay === undefined) return 'none';
    // Behind a snapshot, a client may also be as many messages behind as the snapshot has keys.
    const allowance = Math.max(1, replay.sub.channel.settings.historySize) + (replay.cursor?.snapshot.entries.length ?? 0);
    if (replay.pubs.length - replay.next >= allowance) return 'behind';
    this.hold(pub);
    replay.pubs.push(pub);
    return 'held';
  }

  /** A new loop turn: this connection's share is renewed. */
  newTurn(): void {
    this.turnBytes = 0;
  }

  /**
   * Writes replays while the socket takes them, a bounded share per loop turn so that a large
   * replay never sits whole in user space, and within the process's allowance for the turn so that
   * many replays at once never hold up the loop; true when none is left.
   */
  pump(): boolean {
    const { pacer, output } = this.deps;
    while (output.writable && this.replays.length > 0) {
      if (this.turnBytes >= this.deps.bytesPerTurn) {
        pacer.defer(output);
        return false;
      }
      if (!pacer.mayGo(output)) return false;
      const replay = this.replays[0]!;
      const cursor = replay.cursor;
      if (cursor !== undefined && !cursor.done) {
        const chunk = cursor.nextChunk();
        this.turnBytes += chunk.length;
        if (cursor.done) this.deps.pool.sub(snapshotCost(cursor.snapshot));
        output.writeText(chunk);
        if (cursor.done && replay.pubs.length === 0) this.replays.shift();
        continue;
      }
      const pub = replay.pubs[replay.next++]!;
      this.release(pub);
      this.turnBytes += pub.bytes;
      pacer.spent(pub.bytes);
      output.writeData(pub, replay.sub);
      if (replay.next === replay.pubs.length) this.replays.shift();
      else if (replay.next >= 1024 && replay.next * 2 >= replay.pubs.length) {
        // A client that keeps pace without ever catching up must not pin what it has already read.
        replay.pubs.splice(0, replay.next);
        replay.next = 0;
      }
    }
    return this.replays.length === 0;
  }

  /** Drops the replays of `sub` (all of them when undefined), releasing what they have not written. */
  drop(sub?: Subscription): void {
    if (this.replays.length === 0) return;
    for (const replay of this.replays) if (sub === undefined || replay.sub === sub) this.releaseUnwritten(replay);
    this.replays = sub === undefined ? [] : this.replays.filter((r) => r.sub !== sub);
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
  }
}
