import type { Broker, HistoryOutcome } from '../broker/broker.js';
import type { Logger } from '../observability/logger.js';
import { encodeResetNotice, encodeUnavailableGap } from '../protocol/frames.js';
import type { PreparedFrame } from '../net/socket.js';
import type { Clock } from '../util/clock.js';
import type { QueuePolicy } from '../protocol/policy.js';
import type { Channel, Subscriber } from './channel.js';
import { Publication } from '../stream/publication.js';
import type { KeyedSnapshot } from '../stream/snapshot.js';

export interface RepairTarget {
  /** Hands a publication that follows the channel's position on to its subscribers and joiners. */
  advance(channel: Channel, pub: Publication): void;
  /** The node's stream of the channel is in step again. */
  repaired(channel: Channel): void;
  /** A repair failed (its history read did not answer): retry it later. */
  repairFailed(): void;
  /** Counts a publication held during a repair in the memory budget (`held` pool), and releases `pubs[from, to)`. */
  hold(pub: Publication): void;
  release(pubs: readonly Publication[], from?: number, to?: number): void;
}

export interface RepairOptions {
  readonly prepare: (payload: Buffer) => PreparedFrame;
  readonly clock: Clock;
  readonly maxJoinBuffer: number;
  readonly log: Logger;
}

/**
 * Notices travel in the data lane, behind the channel's messages already queued for a subscriber,
 * under a lossless policy of their own and no channel's identity: a client learns of a hole
 * exactly where it is.
 */
const NOTICE_POLICY: QueuePolicy = Object.freeze({ policy: 'disconnect', maxAgeMs: 0 });

/**
 * Repairs a node's stream of a channel after it missed publications (its broker link was lost, or
 * seqs skipped): reads history after the node's position while live publications are held,
 * announces what history lost (`gap` reason `unavailable` for the oldest it no longer holds, or
 * `reset` when the stream itself was lost and a new epoch began), hands subscribers what history
 * still has, then the held publications. On a keyed channel a loss gives the channel's state
 * instead (docs/keyed.md): the repair's read asks for it, and subscribers get the notice with
 * `snapshot`, then the state at the read's position, then the held publications after it.
 */
export class StreamRepair {
  /** Channels repaired, and notices sent (for tests and metrics). */
  repaired = 0;
  notices = 0;

  constructor(
    private readonly broker: Broker,
    private readonly target: RepairTarget,
    private readonly options: RepairOptions,
  ) {}

  start(channel: Channel): void {
    channel.resync ??= [];
    channel.heldAtRead = channel.resync.length;
    channel.stale = false;
    const attempt = ++channel.repairs;
    const outcome = this.broker.history(channel.name, channel.settings, { epoch: channel.epoch, seq: channel.seq }, true, channel.settings.keyed);
    if (outcome instanceof Promise) void outcome.then((o) => this.finish(channel, attempt, o), () => this.failed(channel, attempt));
    else this.finish(channel, attempt, outcome);
  }

  /**
   * Holds a live publication during a repair. Past the bound the held ones are dropped and history
   * is read again: every dropped one was published before that read, so history (or the notice)
   * covers it.
   */
  hold(channel: Channel, pub: Publication): void {
    const held = channel.resync!;
    if (held.length < this.options.maxJoinBuffer) {
      held.push(pub);
      this.target.hold(pub);
      return;
    }
    this.target.release(held);
    held.length = 0;
    if (this.broker.ready) this.start(channel);
    else channel.stale = true;
  }

  private failed(channel: Channel, attempt: number): void {
    if (attempt !== channel.repairs || channel.resync === undefined) return;
    channel.stale = true;
    this.target.repairFailed();
  }

  private finish(channel: Channel, attempt: number, outcome: HistoryOutcome): void {
    if (attempt !== channel.repairs || channel.resync === undefined || !channel.live) return;
    if (!outcome.ok) {
      this.failed(channel, attempt);
      return;
    }
    const held = channel.resync;
    const heldAtRead = channel.heldAtRead;
    channel.resync = undefined;
    this.repaired++;
    const { position, snapshot } = outcome;
    const continued = position.epoch === channel.epoch || outcome.recovered || outcome.continued === true;
    if (snapshot !== undefined) this.restate(channel, snapshot, continued);
    else this.handOn(channel, outcome, held, continued);
    for (let i = 0; i < held.length; i++) {
      const pub = held[i]!;
      if (pub.epoch === channel.epoch && pub.seq <= channel.seq) continue;
      // Published before the read ran, in a stream the read no longer found (lost with it): accounted for.
      if (pub.epoch !== channel.epoch && i < heldAtRead) continue;
      if (pub.epoch !== channel.epoch || pub.seq !== channel.seq + 1) {
        // Skipped again: repair once more, holding what is left.
        channel.resync = held.slice(i);
        this.target.release(held, 0, i);
        this.start(channel);
        return;
      }
      this.target.advance(channel, pub);
    }
    this.target.release(held);
    this.target.repaired(channel);
  }

  /**
   * Moves the node's position past a hole and tells every subscriber with one notice, built by
   * `notice(from, snapshot)` for the first seq it covers; with `state` (a keyed channel), the state
   * at the new position follows the notice (which then says so) for subscribers that keep it. Joiners already served past the node's position get their
   * own, from where they stand (none if they stand past the hole).
   */
  private announce(channel: Channel, notice: (from: number, snapshot: boolean) => string, epoch: string, seq: number, state?: KeyedSnapshot): void {
    const tell = (subscribers: Iterable<Subscriber>, from: number): void => {
      // Each text encoded once, if anyone gets it: the state only goes to subscribers that keep it.
      let plain: Publication | undefined;
      let restated: Publication | undefined;
      for (const subscriber of subscribers) {
        if (state !== undefined && subscriber.wantsState) subscriber.restate((restated ??= this.notice(notice(from, true), epoch, seq)), state);
        else subscriber.deliver((plain ??= this.notice(notice(from, false), epoch, seq)));
      }
    };
    tell(channel.subscribers, channel.seq + 1);
    for (const join of channel.joins) {
      if (join.cursor < 0 || (join.epoch === epoch && join.cursor >= seq)) continue;
      tell([join.subscriber], join.cursor + 1);
      join.epoch = epoch;
      join.cursor = seq;
    }
    this.notices++;
    channel.epoch = epoch;
    channel.seq = seq;
    this.options.log.warn({ ch: channel.name, epoch, seq, subscribers: channel.subscribers.size }, state === undefined ? 'stream repaired with loss: notice sent' : 'keyed stream repaired with loss: state sent');
  }

  private notice(text: string, epoch: string, seq: number): Publication {
    const pub = new Publication('', NOTICE_POLICY, epoch, seq, undefined, undefined, Buffer.from(text), this.options.clock());
    pub.prepared = this.options.prepare(pub.encoded);
    return pub;
  }

  /** Announces what history lost, if anything, then hands on what it still holds and the held publications up to the read's position. */
  private handOn(channel: Channel, outcome: HistoryOutcome & { ok: true }, held: readonly Publication[], continued: boolean): void {
    const { position } = outcome;
    const base = continued ? channel.seq : 0;
    // What the node can hand on: history's tail, and the live publications it held meanwhile.
    const have = new Map<number, Publication>();
    for (const pub of outcome.publications) have.set(pub.seq, pub);
    for (const pub of held) if (pub.epoch === position.epoch && pub.seq > base && pub.seq <= position.seq) have.set(pub.seq, pub);
    let first = position.seq + 1;
    while (first - 1 > base && have.has(first - 1)) first--;
    if (!continued) {
      this.announce(channel, (from) => encodeResetNotice(channel.name, from, position.epoch, first - 1), position.epoch, first - 1);
    } else if (first > base + 1) {
      this.announce(channel, (from) => encodeUnavailableGap(channel.name, from, first - 1, position.epoch), position.epoch, first - 1);
    }
    channel.epoch = position.epoch;
    for (let seq = first; seq <= position.seq; seq++) if (seq > channel.seq) this.target.advance(channel, have.get(seq)!);
  }

  /**
   * A keyed channel lost part of its stream: subscribers that keep its state get the notice with
   * `snapshot`, then the state; the others the notice alone; the node's position moves to it.
   */
  private restate(channel: Channel, state: KeyedSnapshot, continued: boolean): void {
    const { epoch, seq } = state;
    const notice = continued
      ? (from: number, snapshot: boolean) => encodeUnavailableGap(channel.name, from, seq, epoch, snapshot)
      : (from: number, snapshot: boolean) => encodeResetNotice(channel.name, from, epoch, seq, snapshot);
    this.announce(channel, notice, epoch, seq, state);
  }
}
