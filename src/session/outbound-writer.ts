import { OutboundQueue, type OutboundQueueLimits } from '../flow/outbound-queue.js';
import type { ShedReason } from '../protocol/policy.js';
import { DELIVERY, type DeliveryOutcome } from '../hub/channel.js';
import type { Publication } from '../stream/publication.js';
import type { KeyedSnapshot } from '../stream/snapshot.js';
import type { Stats } from '../observability/stats.js';
import { isEventFrame, isPresenceFrame, presenceQueueIdentity } from '../presence/presence-frame.js';
import type { TransportSocket } from '../net/socket.js';
import type { Clock } from '../util/clock.js';
import type { MemoryPool } from '../util/memory-budget.js';
import type { TurnAllowance } from './turn-allowance.js';
import { ReplayLane, type ReplayOutput } from './replay-lane.js';
import { ControlLane, type ControlOutput, type ControlOwner } from './control-lane.js';
import { ShedAccount } from './shed-account.js';
import { ReceiveWindow } from './receive-window.js';
import type { ShedRun, Subscription } from './subscription.js';
import type { WriteBatcher } from './write-batcher.js';

export interface WriterOwner extends ControlOwner {
  subscriptionOf(channel: string): Subscription | undefined;
  subscriptions(): Iterable<Subscription>;
  /** Everything queued has been written (used to close after a graceful drain). */
  drained(): void;
}

/** The outbound settings (config `outbound.*`, under the same names). */
export interface OutboundSettings extends OutboundQueueLimits {
  /** Control frames (acks, errors, pongs) that may wait; one more means the consumer is slow. */
  readonly controlQueueMessages: number;
  /** Also a replay's share of bytes per loop turn, beyond the bytes of live messages that joined it (ReplayLane.pump). */
  readonly highWaterMarkBytes: number;
  /** The bounds of a client's receive window (docs/protocol.md, `window`). */
  readonly minReceiveWindowBytes: number;
  readonly maxReceiveWindowBytes: number;
}

export interface WriterDeps {
  readonly socket: TransportSocket;
  readonly settings: OutboundSettings;
  readonly stats: Stats;
  readonly clock: Clock;
  /** Read per message queued (the soft limit's time), so one that lags a turn will do (a `TurnClock`). Default: `clock`. */
  readonly queueClock?: Clock | undefined;
  readonly batcher: WriteBatcher;
  /** The process's allowance of replay bytes per loop turn, shared by every connection. */
  readonly pacer: TurnAllowance;
  readonly owner: WriterOwner;
  /** The memory budget's pools for queued messages and replays (each publication counted once per pool). */
  readonly pools: { readonly outbound: MemoryPool; readonly replay: MemoryPool };
}

/**
 * A connection's outbound path. Writes go straight to the socket while it is under its high-water
 * mark; then control frames wait in a small priority lane and data in the bounded, policy-driven
 * queue, both flushed on drain with control first. Shed messages are reported to the client by
 * `gap` frames written in seq position: each run of shed seqs just before the channel's first
 * message after it (or at the end of the flush when none follows yet), never before a message
 * that precedes it.
 */
export class OutboundWriter implements ReplayOutput, ControlOutput {
  private readonly queue: OutboundQueue<Publication>;
  /** Acks, errors and the owed pong waiting for the socket: written before anything else. */
  private readonly control: ControlLane;
  /** Data waits: the socket is above its high-water mark (until drain), or the client's receive window is full. */
  private blocked = false;
  /** The socket is above its high-water mark: control frames wait too. */
  private socketBlocked = false;
  /** The client's receive window from its ack on (undefined before): data waits while it is full. */
  private receive: ReceiveWindow | undefined = undefined;
  private windowFull = false;
  /** A window was asked for: the connection never takes topic frames (they are not counted per connection). */
  windowed = false;
  /** Where the control lane writes: it waits for the socket only, never for the window. */
  private readonly controlOutput: ControlOutput;
  private corked = false;
  private closed = false;
  /** What was shed and is not announced yet (gaps, presence resyncs), and the counts. */
  private readonly account: ShedAccount;
  /** The channel each queued notice is about (few: notices are rare), to purge them with it. */
  private readonly noticeChannels = new Map<Publication, string>();
  /** Resume replays and snapshots not yet written: after control frames, before queued data of other channels. */
  private readonly replays: ReplayLane;
  /** The subscription whose message is being queued: the one whose messages its policy sheds, found without a lookup. */
  private delivering: Subscription | undefined = undefined;
  private readonly queueClock: Clock;
  /** A subscription whose runs the replay lane writes in their place (allocated once, not per flush). */
  private readonly waitsForReplay = (sub: Subscription): boolean => this.replays.has(sub);

  constructor(private readonly deps: WriterDeps) {
    this.queueClock = deps.queueClock ?? deps.clock;
    this.queue = new OutboundQueue<Publication>(deps.settings, this.onShed, deps.pools.outbound);
    this.control = new ControlLane(deps.settings.controlQueueMessages, deps.owner);
    this.replays = new ReplayLane({ output: this, pacer: deps.pacer, bytesPerTurn: deps.settings.highWaterMarkBytes, pool: deps.pools.replay, clock: deps.clock });
    this.account = new ShedAccount(deps.stats, this, () => deps.owner.subscriptions());
    const writer = this;
    this.controlOutput = {
      get writable() {
        return !writer.socketBlocked;
      },
      writeText: (text) => this.writeText(text),
      writePong: (payload) => this.writePong(payload),
    };
  }

  /** The client's receive window, if it asked for one: its size, the bytes written since its ack (as the client counts them) and the client's latest report. */
  get receiveWindow(): { readonly bytes: number; readonly sent: number; readonly reported: number } | undefined {
    const w = this.receive;
    return w === undefined ? undefined : { bytes: w.bytes, sent: w.sent, reported: w.reported };
  }

  /** Messages this connection's policies shed so far, by reason (observability). */
  get shed(): Readonly<Record<ShedReason, number>> {
    return this.account.shed;
  }

  /** The socket takes more (it is under its high-water mark). */
  get writable(): boolean {
    return !this.blocked;
  }

  get queuedBytes(): number {
    return this.queue.bytes;
  }

  get queuedMessages(): number {
    return this.queue.length;
  }

  /** Bytes this connection holds for its client: queued messages and replays not yet written. */
  get heldBytes(): number {
    return this.queue.bytes + this.replays.bytes;
  }

  /** Sheds the queued messages of lossy channels (memory pressure); returns the queue bytes freed. */
  shedLossy(): number {
    return this.queue.shedLossy();
  }

  get utilisation(): number {
    return this.queue.utilisation;
  }

  oldestQueuedAt(): number | undefined {
    return this.queue.oldestAt();
  }

  /** Nothing waits to be written. */
  get idle(): boolean {
    return this.queue.length === 0 && this.control.empty && this.replays.empty;
  }

  deliver(pub: Publication, sub: Subscription): DeliveryOutcome {
    if (this.closed) return DELIVERY.disconnected;
    if (!this.replays.empty) {
      switch (this.replays.follow(pub, sub)) {
        case 'held':
          // The replay may end here: then what follows it (queued data, due gaps) goes on too.
          if (!this.blocked && this.replays.pump()) this.flush();
          return DELIVERY.queued;
        case 'shed':
          return DELIVERY.shed;
        case 'behind':
          // A lossless channel's client more than a whole history behind: cut off as a slow consumer, to resume again.
          this.deps.owner.slowConsumer();
          return DELIVERY.disconnected;
        case 'none':
      }
    }
    // A replay of another channel does not hold it up (it waits for its share of a later turn).
    if (!this.blocked && this.queue.length === 0) {
      // Nothing is queued: every run shed so far precedes this message or notice.
      if (sub.hasGap) this.writeGaps(sub, sub.takeGapsFor(pub));
      this.writeData(pub, sub);
      return DELIVERY.written;
    }
    // A notice (a broker gap, see stream-repair) has no channel of its own, so that no policy sheds it.
    if (pub.channel === '') this.noticeChannels.set(pub, sub.channel.name);
    this.delivering = sub;
    const pushed = this.queue.push(pub, this.queueClock());
    this.delivering = undefined;
    switch (pushed) {
      case 'queued':
        return DELIVERY.queued;
      case 'shed':
        return DELIVERY.shed;
      case 'disconnect':
        this.deps.owner.slowConsumer();
        return DELIVERY.disconnected;
    }
  }

  /**
   * A presence frame (shared by the channel's watchers): written at once while the socket takes
   * it, otherwise queued under its own queue identity and policy, within the queue's bounds.
   */
  deliverPresence(frame: Publication, _sub: Subscription): void {
    if (this.closed) return;
    if (!this.blocked && this.queue.length === 0) {
      this.writeData(frame);
      return;
    }
    if (this.queue.push(frame, this.queueClock()) === 'disconnect') this.deps.owner.slowConsumer();
  }

  /**
   * Writes a resume replay as the socket allows and keeps the rest for later drains, outside the
   * queue's limits (see ReplayLane.add). Live messages of that channel that arrive meanwhile
   * follow it in the same lane.
   */
  replay(pubs: readonly Publication[], sub: Subscription): void {
    if (this.closed || pubs.length === 0) return;
    this.replays.add(pubs, sub);
    if (!this.blocked && this.replays.pump()) this.flush();
  }

  /**
   * Writes a keyed channel's state in `snap` chunks, encoded one at a time as the socket drains,
   * in the replay lane: never shed by a policy (a partial snapshot would be a wrong view), and live
   * messages of the channel wait behind it (docs/keyed.md). The entry list is charged to the
   * replay pool until the last chunk is written.
   */
  snapshot(state: KeyedSnapshot, sub: Subscription): void {
    if (this.closed) return;
    this.replays.addSnapshot(state, sub);
    if (!this.blocked && this.replays.pump()) this.flush();
  }

  /**
   * The node lost part of a keyed channel's stream: what is queued or replaying for `sub` (all of
   * it older than the state) and its gap account are superseded; the notice, then the state, go in
   * the replay lane, with live messages of the channel behind them.
   */
  restate(notice: Publication, state: KeyedSnapshot, sub: Subscription): void {
    if (this.closed) return;
    this.purge(sub, false);
    this.replays.addSnapshot(state, sub, notice.encoded.toString());
    if (!this.blocked && this.replays.pump()) this.flush();
  }

  /** Goes on with the replays on a later loop turn (their per-turn share was written). */
  continueTurn(): void {
    if (this.closed || this.blocked) return; // a drain resumes a blocked socket
    this.flush();
  }

  /** Queues a control frame (ack, error, pong) ahead of all data. */
  sendControl(text: string): void {
    if (this.closed) return;
    if (!this.socketBlocked && this.control.empty) this.writeText(text);
    else this.control.push(text);
  }

  /**
   * Sets the client's receive window to `bytes` and writes its ack (`text`) as a control frame: the
   * first window's count starts with that ack (docs/protocol.md, `window`); a later one changes the size.
   */
  setWindow(bytes: number, text: string): void {
    if (this.closed) return;
    this.windowed = true;
    const start = (): void => {
      if (this.receive === undefined) this.receive = new ReceiveWindow(bytes);
      else this.receive.bytes = bytes;
      this.windowFull = false;
      this.blocked = this.socketBlocked;
    };
    if (!this.socketBlocked && this.control.empty) {
      start();
      this.writeText(text);
      // A larger window lets what waited for the smaller one go.
      if (!this.blocked) this.flush();
    } else this.control.push({ text, before: start });
  }

  /**
   * The client's report of the bytes it received since the window's ack: false (ignored) when it
   * cannot be right: no window yet, more than was written, or less than an earlier report.
   */
  received(total: number): boolean {
    const w = this.receive;
    if (w === undefined || !w.report(total)) return false;
    if (this.windowFull && !w.full) {
      this.windowFull = false;
      if (!this.socketBlocked && !this.closed) {
        this.blocked = false;
        this.flush();
      }
    }
    return true;
  }

  /**
   * Answers a WebSocket ping: at once, or, while the socket is backed up, once it drains (only the
   * latest ping then). A ping arriving while a pong is still owed stops the owner taking requests
   * (reading) until the socket drains, as a full control lane does.
   */
  sendPong(payload: Buffer): void {
    if (this.closed) return;
    if (!this.socketBlocked) this.writePong(payload);
    else this.control.owePong(payload);
  }

  onDrain(): void {
    if (this.closed) return;
    this.socketBlocked = false;
    this.blocked = this.windowFull;
    this.flush();
  }

  /** True if the consumer has sat above its soft limit too long. */
  softLimitExceeded(now: number): boolean {
    return this.queue.softLimitExceeded(now);
  }

  /** Nothing more will be written (what is queued stays until `discard`). */
  stop(): void {
    this.closed = true;
  }

  /** Drops everything queued; nothing more will be written. */
  discard(): void {
    this.closed = true;
    for (const sub of this.deps.owner.subscriptions()) sub.endKeyed();
    this.queue.clear();
    this.control.clear();
    this.replays.drop();
    this.noticeChannels.clear();
  }

  /**
   * A subscription ended: what is queued or replaying for it is dropped with its gap account, so
   * nothing of it reaches the client after the `unsub` ack, nor counts for a later subscription to
   * the same channel (a resume with `since` accounts for all of it).
   */
  forget(sub: Subscription): void {
    sub.endKeyed();
    this.purge(sub, true);
    this.account.dropResync(sub);
  }

  /** Drops what is queued or replaying for `sub`, with its gap account (and its presence frames, `withPresence`). */
  private purge(sub: Subscription, withPresence: boolean): void {
    this.replays.drop(sub);
    const name = sub.channel.name;
    if (this.queue.length > 0) {
      const presence = withPresence ? presenceQueueIdentity(name) : undefined;
      this.queue.purge((pub) => pub.channel === name || pub.channel === presence || (pub.channel === '' && this.noticeChannels.get(pub) === name));
      for (const [notice, channel] of this.noticeChannels) if (channel === name) this.noticeChannels.delete(notice);
    }
    this.account.dropGaps(sub);
  }

  uncork(): void {
    this.corked = false;
    this.replays.newTurn();
    this.deps.socket.uncork();
  }

  /**
   * Control frames, then replays (their share of the turn), then queued data: none of it is of a
   * replaying channel (its live messages follow its replay in the lane), so it does not wait for
   * the replays to end. A reading client's other channels flow while a long replay is paced.
   */
  private flush(): void {
    this.control.flush(this.controlOutput);
    const replaying = !this.replays.pump();
    const now = this.deps.clock();
    while (!this.blocked) {
      const pub = this.queue.shift(now);
      if (pub === undefined) break;
      const notice = pub.channel === '';
      const channel = notice ? this.noticeChannels.get(pub) : pub.channel;
      if (notice) this.noticeChannels.delete(pub);
      const sub = channel !== undefined && (this.account.gapsPending || pub.slot >= 0) ? this.deps.owner.subscriptionOf(channel) : undefined;
      if (sub !== undefined && sub.hasGap) this.writeGaps(sub, notice ? sub.takeGapsBeforeNotice(pub) : sub.takeGapsBefore(pub));
      this.writeData(pub, sub);
    }
    if (!this.blocked) this.account.writeDue(replaying ? this.waitsForReplay : undefined);
    if (this.idle) this.deps.owner.drained();
  }

  private readonly onShed = (pub: Publication, reason: ShedReason): void => {
    if (isPresenceFrame(pub)) {
      if (isEventFrame(pub)) this.account.presenceShed(this.deps.owner.subscriptionOf(pub.channel.slice(1)));
      return;
    }
    const delivering = this.delivering;
    const sub = delivering !== undefined && delivering.channel.name === pub.channel ? delivering : this.deps.owner.subscriptionOf(pub.channel);
    if (sub !== undefined) this.noteShed(pub, sub, reason);
    else this.account.count(reason);
  };

  /** A message of `sub` was shed (by its queue, or by its delivery contract): its gap will say so. */
  noteShed(pub: Publication, sub: Subscription, reason: ShedReason): void {
    this.account.noteShed(pub, sub, reason);
  }

  /** Announces shed runs taken from the subscription, in order. */
  writeGaps(sub: Subscription, runs: readonly ShedRun[]): void {
    this.account.writeGaps(sub, runs);
  }

  /**
   * Writes a publication now, whatever waits: its delta frame when `sub` holds the delta's base
   * (docs/keyed.md), else whole. This and the two writes below are for the writer and its lanes,
   * which keep the order; everyone else goes through `deliver`, `sendControl` and `sendPong`.
   */
  writeData(pub: Publication, sub?: Subscription): void {
    this.cork();
    const { stats } = this.deps;
    stats.messagesOut++;
    const delta = sub?.delta?.choose(pub);
    let bytes: number;
    if (delta === undefined) {
      bytes = pub.bytes;
      if (!this.deps.socket.sendPrepared(pub.prepared)) this.block();
    } else {
      stats.deltasOut++;
      bytes = delta.bytes;
      if (!this.deps.socket.sendPrepared(delta.prepared)) this.block();
    }
    stats.bytesOut += bytes;
    if (this.receive !== undefined && this.receive.wrote(bytes)) this.fillWindow();
  }

  writeText(text: string): void {
    this.cork();
    this.deps.stats.messagesOut++;
    this.deps.stats.bytesOut += text.length;
    if (!this.deps.socket.sendText(text)) this.block();
    // Counted as the client counts it, in UTF-8 bytes (control frames are few).
    if (this.receive !== undefined && this.receive.wrote(Buffer.byteLength(text))) this.fillWindow();
  }

  writePong(payload: Buffer): void {
    this.cork();
    if (!this.deps.socket.sendPong(payload)) this.block();
  }

  private block(): void {
    if (!this.socketBlocked) {
      this.socketBlocked = this.blocked = true;
      this.deps.stats.backpressureEvents++;
    }
  }

  /** The client has a window's worth unreported: data waits (control frames do not) until `received`. */
  private fillWindow(): void {
    if (!this.windowFull) {
      this.windowFull = this.blocked = true;
      this.deps.stats.windowWaits++;
    }
  }

  private cork(): void {
    if (!this.corked) {
      this.corked = true;
      this.deps.socket.cork();
      this.deps.batcher.add(this);
    }
  }
}
