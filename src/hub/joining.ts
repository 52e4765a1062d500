import type { Broker, HistoryOutcome } from '../broker/broker.js';
import { UNAVAILABLE } from '../broker/broker.js';
import type { PreparedFrame } from '../net/socket.js';
import { provisional } from '../stream/position.js';
import type { Publication } from '../stream/publication.js';
import type { Channel, Join } from './channel.js';

/** What bringing subscribers in needs of the hub. */
export interface JoinHost {
  /** The node's stream of the channel is out of step with a history read: repair it. */
  startRepair(channel: Channel): void;
  /** Nobody here watches the channel any more (a failed join was its last). */
  unwatch(channel: Channel): void;
  /** A joiner's buffer holds a live publication (the memory budget counts it), or releases them. */
  hold(pub: Publication): void;
  release(pubs: readonly Publication[]): void;
}

export interface JoiningOptions {
  readonly broker: Broker;
  readonly prepare: (payload: Buffer) => PreparedFrame;
  /** Most live publications buffered per joining subscriber while its history read is in flight. */
  readonly maxJoinBuffer: number;
}

/**
 * Brings subscribers into a channel on this node, gap-free and duplicate-free whatever the
 * broker's latency: live publications are buffered while a joiner's history read is in flight,
 * then spliced after the history by seq; a joiner served ahead of the node's live stream waits
 * for the stream to reach it before it becomes a plain subscriber.
 */
export class Joining {
  constructor(
    private readonly host: JoinHost,
    private readonly options: JoiningOptions,
  ) {}

  /** The join is in `channel.joins`: subscribe the node to the channel, then read its history. */
  start(channel: Channel, join: Join): void {
    const subscribed = this.options.broker.subscribe(channel.name);
    if (subscribed instanceof Promise) void subscribed.then((ok) => this.read(channel, join, ok), () => this.read(channel, join, false));
    else this.read(channel, join, subscribed);
  }

  /** The node's stream of the channel is in step again: joiners it reached join it, those answered meanwhile read again. */
  repaired(channel: Channel): void {
    this.promoteReached(channel);
    for (const join of channel.joins.slice()) {
      if (!join.reread) continue;
      join.reread = false;
      this.read(channel, join, true);
    }
  }

  /** The broker link was lost: joiners not yet answered fail; those served stay (a repair will tell them what they lost). */
  interrupted(channel: Channel): void {
    for (const join of channel.joins.slice()) if (join.cursor < 0) this.finish(channel, join, UNAVAILABLE);
  }

  /** Live publications reach joiners: buffered while their history read is in flight, else past their cursor. */
  feed(channel: Channel, pub: Publication): void {
    let overflowed: Join[] | undefined;
    for (const join of channel.joins) {
      if (join.cursor < 0) {
        if (join.buffer.length < this.options.maxJoinBuffer) {
          join.buffer.push(pub);
          this.host.hold(pub);
        } else (overflowed ??= []).push(join);
      } else if (pub.seq === join.cursor + 1 && pub.epoch === join.epoch) {
        pub.prepared ??= this.options.prepare(pub.encoded);
        join.subscriber.deliver(pub);
        join.cursor = pub.seq;
      }
    }
    // A joiner whose buffer overflowed before its history arrived cannot be served gap-free.
    if (overflowed !== undefined) for (const join of overflowed) this.finish(channel, join, UNAVAILABLE);
  }

  /** Joiners the node's live stream has reached become plain subscribers. */
  promoteReached(channel: Channel): void {
    for (const join of channel.joins.slice()) if (join.cursor >= 0 && join.cursor <= channel.seq && join.epoch === channel.epoch) this.promote(channel, join);
  }

  /** Cancels a join (its subscriber left, or it was promoted or failed). */
  drop(channel: Channel, join: Join): void {
    join.cancelled = true;
    this.releaseBuffer(join);
    const i = channel.joins.indexOf(join);
    if (i >= 0) channel.joins.splice(i, 1);
  }

  private read(channel: Channel, join: Join, ok: boolean): void {
    if (join.cancelled) return;
    if (!ok) {
      this.finish(channel, join, UNAVAILABLE);
      return;
    }
    const outcome = this.options.broker.history(channel.name, channel.settings, join.since, false, join.snapshot);
    if (outcome instanceof Promise) void outcome.then((o) => this.finish(channel, join, o), () => this.finish(channel, join, UNAVAILABLE));
    else this.finish(channel, join, outcome);
  }

  /**
   * Serves a joiner its history, then the live publications buffered meanwhile that follow it; it
   * becomes a plain subscriber once the node's live stream has reached what it was served.
   */
  private finish(channel: Channel, join: Join, outcome: HistoryOutcome): void {
    if (join.cancelled) return;
    if (!outcome.ok) {
      this.drop(channel, join);
      join.subscriber.joined(outcome);
      if (channel.unwatched) this.host.unwatch(channel);
      return;
    }
    const { position, snapshot } = outcome;
    if (channel.live && (channel.resync !== undefined || channel.stale || !sameStream(channel.epoch, position.epoch))) {
      // The node's stream is out of step (being repaired, or another stream than this read saw):
      // serving this read could repeat or skip what the repair hands on; read again after it.
      join.reread = true;
      this.releaseBuffer(join);
      if (channel.resync === undefined && !channel.stale) this.host.startRepair(channel);
      return;
    }
    const recovered = join.since === undefined ? undefined : snapshot !== undefined ? 'snapshot' : outcome.recovered;
    const joined = { ok: true, epoch: position.epoch, seq: position.seq, recovered } as const;
    join.subscriber.joined(snapshot === undefined ? joined : { ...joined, snapshot: true });
    // The subscriber may have left at once (an unsub that waited for this answer).
    if (join.cancelled) return;
    if (snapshot !== undefined) join.subscriber.snapshot(snapshot);
    for (const pub of outcome.publications) pub.prepared ??= this.options.prepare(pub.encoded);
    if (outcome.publications.length > 0) join.subscriber.replay(outcome.publications);
    join.cursor = position.seq;
    join.epoch = position.epoch;
    // A read that ran before the stream's first publish (a provisional position) and publications of
    // the stream that began meanwhile: the node's position continues into that stream.
    let continuedInto = false;
    for (const pub of join.buffer) {
      if (pub.epoch !== join.epoch) continuedInto ||= provisional(join.epoch);
      if (pub.epoch !== join.epoch || pub.seq <= join.cursor) continue;
      if (pub.seq !== join.cursor + 1) break; // the node missed some: its repair hands them on
      pub.prepared ??= this.options.prepare(pub.encoded);
      join.subscriber.deliver(pub);
      join.cursor = pub.seq;
    }
    this.releaseBuffer(join);
    const first = !channel.live;
    if (first) {
      channel.live = true;
      channel.epoch = join.epoch;
      channel.seq = join.cursor;
    }
    if (channel.seq >= join.cursor) this.promote(channel, join);
    // The node did not follow the stream while this read was out, so it dropped those publications:
    // repair from the provisional position now rather than when the next publication shows the hole.
    if (first && continuedInto) this.host.startRepair(channel);
  }

  private promote(channel: Channel, join: Join): void {
    this.drop(channel, join);
    channel.addSubscriber(join.subscriber);
  }

  private releaseBuffer(join: Join): void {
    this.host.release(join.buffer);
    join.buffer.length = 0;
  }
}

/** Two positions of one stream: the same epoch, or both before its first publish (each holds nothing). */
function sameStream(a: string, b: string): boolean {
  return a === b || (provisional(a) && provisional(b));
}
