import type { TransportSocket } from '../net/socket.js';
import type { Stats } from '../observability/stats.js';
import type { ErrorCode } from '../protocol/errors.js';
import { peekRequestId, type RequestId } from '../protocol/requests.js';
import { HeldFrames } from './held-frames.js';
import { SHARE_DONE, TAKEN, type Paced, type ShareUse, type TurnAllowance } from './turn-allowance.js';

/** Why a connection stopped taking requests (bit flags): */
/** `limits.maxPendingPublishes` publications await the broker. */
export const WINDOW = 1;
/** The control lane is full: replies wait for the client to read. */
export const REPLIES = 2;
/** A `sub`/`unsub` waits for the answer to an earlier `sub` of its channel (followed by an `unsub`). */
export const ORDER = 4;
/** A `sub` waits for a later loop turn: this one's `limits.subscribesPerTurn` are taken. */
export const TURN = 8;
/** The connection has had its `limits.framesPerTurn` this turn: the rest wait for its next share. */
const SHARE = 16;
/** This turn's `limits.inboundMsPerTurn` (all connections' frames together) is spent: the rest wait for the next turn. */
const BUSY = 32;
/** The stops a new turn of the round robin ends. */
const TURN_BOUND = SHARE | BUSY;
const PAUSE_CAUSES = {
  [WINDOW]: 'publish_window',
  [REPLIES]: 'replies',
  [ORDER]: 'subscription_order',
  [TURN]: 'subscribes_per_turn',
  [SHARE]: 'frames_per_turn',
  [BUSY]: 'inbound_ms_per_turn',
} as const;

/** The connection behind the gate. */
export interface GateOwner {
  readonly isClosing: boolean;
  /** Handles a request; false when it must wait for an earlier one (the owner has stopped the gate). */
  handle(data: Buffer, isBinary: boolean): boolean;
  /** Answers a WebSocket ping. */
  answerPing(payload: Buffer): void;
  sendError(code: ErrorCode, id?: RequestId): void;
}

/**
 * Whether a connection takes requests now, and the ones it received meanwhile. Requests take
 * effect in the order sent: while anything stops them (its publish window is full, its replies
 * back up, an earlier request awaits an answer, a per-turn allowance is spent) the socket stops
 * being read, so TCP pushes back on the client; frames the transport delivers meanwhile wait, in
 * order, in `held`, and go first once nothing stops requests.
 *
 * Each connection handles at most `limits.framesPerTurn` frames per event-loop turn, WebSocket
 * pings included: past its share it stops and waits at the back of one round robin for the
 * process (`TurnAllowance.takeShare`), so a bystander's frame waits for at most one share of each
 * flooder. All connections together handle frames for at most `limits.inboundMsPerTurn` per turn:
 * past it the connection being served and every later one stop the same way (each still takes
 * its first frame of the turn) and go on first next turn, in order, so that many flooders' shares
 * do not add up to one long turn. While stopped, the rest of the read under way is parsed at once
 * up to a share of frames (a fast publisher's next share, ready for its next turn), and past that,
 * or once the turn's time is spent, one frame per turn (`deferParsing`), so a flood's backlog is
 * not parsed in one turn. Pings past the share are not held: only the latest is answered, first thing in the
 * connection's next share (RFC 6455 §5.5.3 allows answering only the most recent ping), so a ping
 * flood costs a copy per ping. Where reading cannot stop (uWS) the transport goes on delivering
 * what the client sends, so there is no share (it would cost a lone fast publisher its batching
 * and push nothing back), only the turn's time: past it the frames of the connections being
 * served are copied and held, so a flood's turn costs the transport's parse and the inbound
 * limits' charge of each frame, not its handling; past `limits.maxHeldRequestBytes` held for the
 * turn's time alone, the pacing gives way (`giveWay`) rather than refuse a request for it.
 */
export class RequestGate implements Paced {
  /** WINDOW | REPLIES | ORDER | TURN | SHARE: why requests are not taken now. */
  private stopped = 0;
  /** The token buckets paused reading (pause mode) until the resume scheduler fires. */
  private ratePaused = false;
  /** Frames received while requests were stopped, oldest first. */
  private readonly held: HeldFrames;
  /** `limits.framesPerTurn` where reading can stop, else 0 (no share). */
  private readonly share: number;
  /** A share or the turn's time bounds frames. */
  private readonly paced: boolean;
  private readonly shareUse: ShareUse = { turn: -1, used: 0 };
  /** The latest WebSocket ping that came past the share: answered when the next share begins. */
  private latestPing: Buffer | undefined;
  /** Frames and pings received since reading stopped (parsing is deferred past a share of them). */
  private arrivedStopped = 0;

  constructor(
    private readonly socket: TransportSocket,
    private readonly ctx: {
      readonly settings: { readonly maxHeldRequestBytes: number; readonly framesPerTurn: number; readonly inboundMsPerTurn: number };
      readonly stats: Stats;
      readonly frames: TurnAllowance;
      readonly readingPausable: boolean;
      readonly messagesStable: boolean;
    },
    private readonly owner: GateOwner,
  ) {
    this.share = ctx.readingPausable ? ctx.settings.framesPerTurn : 0;
    this.held = new HeldFrames(ctx.messagesStable, ctx.settings.maxHeldRequestBytes);
    this.paced = this.share > 0 || ctx.settings.inboundMsPerTurn > 0;
  }

  /** A frame admitted by the inbound limits: handled now, or held behind those that wait. */
  take(data: Buffer, isBinary: boolean): void {
    if (this.stopped !== 0 || this.held.size > 0 || !this.mayHandle() || !this.owner.handle(data, isBinary)) this.hold(data, isBinary);
  }

  /**
   * A WebSocket ping admitted by the inbound limits: answered now while the connection's share
   * lasts (whatever else stops its requests: pongs are control frames, outside the order of
   * replies); past it, kept as the latest.
   */
  takePing(payload: Buffer): void {
    if ((this.stopped & TURN_BOUND) === 0 && this.mayHandle()) this.owner.answerPing(payload);
    else {
      this.latestPing = this.ctx.messagesStable ? payload : Buffer.from(payload);
      this.arrivedWhileStopped();
    }
  }

  /**
   * Past a share of frames received while stopped, or once the turn's time is spent, the rest of
   * the read is parsed a frame per turn.
   */
  private arrivedWhileStopped(): void {
    if (++this.arrivedStopped === this.share || this.share === 0 || !this.ctx.frames.timeLeft()) this.socket.deferParsing();
  }

  private resumeReading(): void {
    this.arrivedStopped = 0;
    this.socket.resume();
  }

  /** True while the connection's share and the turn's time last; else it stops until its next turn. */
  private mayHandle(): boolean {
    if (!this.paced) return true;
    const taken = this.ctx.frames.takeShare(this, this.shareUse, this.share);
    if (taken === TAKEN) return true;
    this.stop(taken === SHARE_DONE ? SHARE : BUSY);
    return false;
  }

  /** The connection's next turn: its latest ping is answered, and the frames it holds go on, in order. */
  continueTurn(): void {
    const ping = this.latestPing;
    this.latestPing = undefined;
    // A connection's first frame of a turn is always taken (turn-allowance.ts): the ping is answered.
    if (ping !== undefined && !this.owner.isClosing && this.mayHandle()) this.owner.answerPing(ping);
    this.go(TURN_BOUND);
  }

  /** The token buckets ran into debt: reading stops until `rateRepaid`. */
  ratePause(): void {
    this.ratePaused = true;
    this.socket.pause();
    this.socket.deferParsing();
  }

  rateRepaid(): void {
    this.ratePaused = false;
    if (!this.owner.isClosing && this.stopped === 0) this.resumeReading();
  }

  /**
   * Keeps a frame for when requests are taken again. A transport that stops reading delivers at
   * most what it had already read; one that cannot (uWS) is held to `limits.maxHeldRequestBytes`,
   * past which a request is refused with `too_many_requests`, unless only the share or the turn's
   * time stop the connection: then the pacing gives way.
   */
  private hold(data: Buffer, isBinary: boolean): void {
    if (this.held.bytes >= this.ctx.settings.maxHeldRequestBytes) {
      if ((this.stopped & ~TURN_BOUND) === 0) {
        this.giveWay(data, isBinary);
        return;
      }
      this.owner.sendError('too_many_requests', isBinary ? undefined : peekRequestId(data.toString('utf8')));
      return;
    }
    this.held.push(data, isBinary);
    this.arrivedWhileStopped();
  }

  stop(reason: number): void {
    if ((this.stopped & reason) !== 0) return;
    if (this.stopped === 0 && !this.ratePaused) this.socket.pause();
    this.stopped |= reason;
    this.ctx.stats.readPauses[PAUSE_CAUSES[reason as keyof typeof PAUSE_CAUSES]]++;
  }

  /** Takes requests again once nothing else stops them: the held ones first, in order. */
  go(reason: number): void {
    if ((this.stopped & reason) === 0) return;
    this.stopped &= ~reason;
    this.handleHeld(true);
  }

  /**
   * The held frames waited for the share or the turn's time alone and fill
   * `limits.maxHeldRequestBytes`: they are handled now, in order, then `data`, whatever the share
   * and the time, so that pacing never refuses a request (with uWS, which cannot stop reading, a
   * burst within the inbound limits can fill the bound).
   */
  private giveWay(data: Buffer, isBinary: boolean): void {
    this.stopped &= ~TURN_BOUND;
    this.handleHeld(false);
    if (this.owner.isClosing) return;
    if (this.stopped !== 0 || this.held.size > 0 || !this.owner.handle(data, isBinary)) this.hold(data, isBinary);
  }

  /** Handles the held frames, in order, while nothing stops requests (and, when `paced`, the share and the turn's time last). */
  private handleHeld(paced: boolean): void {
    const { held } = this;
    while (this.stopped === 0 && held.size > 0 && !this.owner.isClosing) {
      if ((paced && !this.mayHandle()) || !this.owner.handle(held.first(), held.firstIsBinary())) break;
      held.shift();
    }
    if (this.stopped === 0 && !this.ratePaused && !this.owner.isClosing) this.resumeReading();
  }

  /** Forgets the held frames. Idempotent. */
  release(): void {
    this.latestPing = undefined;
    this.held.clear();
  }
}
