import type { UpgradeRequest } from '../net/http.js';
import type { PreparedFrame, SocketHandler, TransportSocket } from '../net/socket.js';
import { CLOSE } from '../protocol/close-codes.js';
import { BatchJoiner, type BatchEvent } from './batch-join.js';
import type { UwsWebSocket } from './uws-api.js';
import type { TopicMember, UwsTopics } from './uws-topics.js';
import { scheduleFlush } from './uws-turn.js';

/** What uWS keeps per connection: the upgrade request and decision context until `open`, then the adapter. */
export interface UwsUserData {
  request: UpgradeRequest | undefined;
  context: unknown;
  adapter: UwsSocket | undefined;
  /** The upgrade selected `sluice.batch`. */
  batch: boolean;
}

/** Settings shared by every socket of one transport. */
export interface UwsSocketSettings {
  readonly highWaterMark: number;
  readonly maxPayloadBytes: number;
  readonly compress: boolean;
  /** The largest batch frame, for sockets that selected `sluice.batch`; 0: one event per frame. */
  readonly batchMax: number;
  /** The transport's topics; undefined when off, and for batching sockets (a topic's frames are single events). */
  readonly topics: UwsTopics | undefined;
  /** The cork buffer of the uWS build in use (`outbound.uwsCorkBytes`; UWS_CORK_BYTES in every published build): the longest run of frames written with one cork. */
  readonly corkBytes: number;
}

/** uWS frames each send itself: a batch frame's payload is shared by the sockets with the same turn (see BatchJoiner). */
const joiner = new BatchJoiner((payload) => payload);

/**
 * Payloads from this size on take uWS's direct path when uWS holds nothing for the socket and its
 * cork buffer is empty: one writev of header and payload, no copy. In the uWebSockets the pinned
 * build carries (before v20.47, uWebSockets #1662), when the kernel took fewer bytes of that write
 * than the header, uWS kept the rest of the header and lost the payload: the peer read a header
 * announcing N bytes followed by the next frame. With send buffers capped at 256 KiB (the
 * operations guide's setting) the load tool's batching subscribers read such a frame in 2 runs of 3
 * at 1.8M deliveries/s, as soon as the generator fell behind (docs/benchmarks.md, "Eighteenth
 * pass"). Such frames are therefore always sent with uWS's compress flag set, which skips the
 * direct path; with compression off for the socket, uWS sends them uncompressed through its
 * buffered path (a copy of the frame, and never a lost byte).
 */
export const UWS_DIRECT_BYTES = 16 * 1024;

/** uWS's send results: written with nothing left over, and dropped by maxBackpressure (0: backpressure built up). */
const SENT = 1;
const DROPPED = 2;

/** Bytes a frame of `payload` bytes takes on the wire (server frames carry no mask). */
function frameBytes(payload: number): number {
  return payload + (payload < 126 ? 2 : payload < 65536 ? 4 : 10);
}

// ws.cork() takes a callback; module-level state for the run being written avoids a closure per write.
let corking: UwsSocket | undefined;
let runEnd = 0;
function writeCorking(): void {
  corking!.writeRun(runEnd);
}

/**
 * A uWebSockets.js connection behind the transport seam. Frames are held per socket — references
 * to the shared prepared payloads, never copies — and written from the turn's flush, in runs that
 * fit uWS's cork buffer (one syscall each), while uWS has no backpressure of its own for the
 * socket; once it has, the rest waits here until uWS says the socket drained, so a socket behind
 * costs no syscall per frame and no copy into uWS's buffer. cork()/uncork() need do nothing.
 * `bufferedAmount` is uWS's backpressure plus the frames held here. As with the ws transport, a
 * send reports false when what was buffered before this turn's batch is at or above the
 * high-water mark, and the core hears `onDrain` once it is below again. The backpressure is read
 * from uWS after each flush and each drain event — the only moments it grows, or shrinks in a way
 * the core must hear of — so a delivery costs no call into uWS until the flush. Every uWS call is
 * guarded by `closed`: touching a closed uWS socket throws.
 */
export class UwsSocket implements TransportSocket, TopicMember {
  private handler: SocketHandler | undefined;
  private closed = false;
  /** Set when uWS closed before the core attached its handler. */
  private closedWith: { code: number; reason: string; fault: string | undefined } | undefined;
  /** receive() closed the socket for an oversize frame. */
  private refusedFrame = false;
  /**
   * Frames not yet handed to uWS, oldest first: slots `head` to `count`. The arrays keep their
   * length from turn to turn (truncating them would make every turn grow them again, slot by slot).
   */
  private readonly pending: Array<BatchEvent | undefined> = [];
  private readonly pendingSizes: number[] = [];
  private head = 0;
  private count = 0;
  private pendingBytes = 0;
  private queued = false;
  /** What was buffered (uWS + held here) when this turn's first frame came: the mark is judged on it. */
  private turnBase = 0;
  /** uWS's backpressure as of the last flush or drain event. */
  private backpressure = 0;
  /** A send returned false: the core waits for onDrain. */
  private owesDrain = false;
  /** uWS dropped a frame (maxBackpressure): the stream has a hole, so the socket must go. */
  private overflowed = false;
  /** The core heard onSettled and not onBusy since: topic frames may be published to the socket. */
  private settled = false;

  constructor(
    private readonly ws: UwsWebSocket<UwsUserData>,
    readonly remoteAddress: string,
    private readonly settings: UwsSocketSettings,
  ) {}

/** Gives the socket its handler; if uWS closed it meanwhile, the handler hears onClose now. */
  attach(handler: SocketHandler): void {
    if (this.closedWith === undefined) this.handler = handler;
    else handler.onClose(this.closedWith.code, this.closedWith.reason, this.closedWith.fault);
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount() + this.pendingBytes;
  }

  sendPrepared(frame: PreparedFrame): boolean {
    const payload = frame as Buffer;
    return this.write(payload, payload.length);
  }

  sendText(text: string): boolean {
    return this.write(text, Buffer.byteLength(text));
  }

  cork(): void {}

  uncork(): void {}

  /** Never called: config rejects inbound.mode 'pause' with this transport (uWS cannot stop reading). */
  pause(): void {}

  resume(): void {}

  /** Never called, as pause(). */
  deferParsing(): void {}

  ping(): void {
    if (!this.closed) this.ws.ping();
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    // Topic publications the turn made precede what is held here: uWS writes them first, then the held frames, then the close frame.
    this.settings.topics?.issue();
    if (this.head < this.count) {
      if (this.settings.batchMax > 0) this.sendBatches(true);
      else this.corkAndWrite(this.count);
    }
    this.closed = true;
    // uWS sends the close frame after what it has buffered, and calls the close handler at once.
    this.ws.end(code, reason);
  }

  /** uWS's end() already abandons: it drops what the peer sends after the close frame, and FINs after it. */
  abandon(code: number, reason: string): void {
    this.close(code, reason);
  }

  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropPending();
    this.ws.close();
  }

  join(topic: string): void {
    if (!this.closed) this.settings.topics?.join(this, this.ws, topic);
  }

  leave(topic: string): void {
    if (!this.closed) this.settings.topics?.leave(this, this.ws, topic);
  }

  /** Read after topic frames were published to it: once uWS holds any, it takes none until drained (uWS would write each with its own syscall). */
  checkBackpressure(): void {
    if (this.closed || !this.settled) return;
    this.backpressure = this.ws.getBufferedAmount();
    if (this.backpressure === 0) return;
    this.settled = false;
    this.handler?.onBusy?.();
  }

  // ---- events from the transport ----

  receive(message: ArrayBuffer, isBinary: boolean): void {
    if (this.closed) return;
    // uWS's own limit is set above ours, so that an oversize frame gets a 1009 close frame as with ws.
    if (message.byteLength > this.settings.maxPayloadBytes) {
      this.refusedFrame = true;
      this.close(CLOSE.message_too_big.code, CLOSE.message_too_big.reason);
      return;
    }
    // A view, valid during the call only (uWS detaches the ArrayBuffer when the handler returns).
    this.handler?.onMessage(Buffer.from(message), isBinary);
  }

  /** uWS wrote some of its backpressure: what is held here goes out with the next flush once it has none left. */
  drained(): void {
    if (this.closed) return;
    this.backpressure = this.ws.getBufferedAmount();
    if (this.backpressure === 0 && this.head < this.count) this.schedule();
    else {
      this.settleDrain();
      this.settle();
    }
  }

  pong(): void {
    this.handler?.onPong();
  }

  /**
   * uWS answers every ping itself, in native code and within its maxBackpressure; the ping still
   * costs the peer an inbound frame, so a flood meets the rate limit (and its strikes) as on ws.
   * Only its size is charged: no Buffer is made of it (a ping flood's frames are half of a turn).
   */
  pinged(message: ArrayBuffer): void {
    if (!this.closed) this.handler?.onPing(undefined, message.byteLength);
  }

  /** Never asked: uWS has answered the ping already (see `pinged`). */
  sendPong(): boolean {
    return true;
  }

  /** uWS's close handler: from here on the uWS socket must not be touched. `fault`: uWS refused a frame, and why. */
  closedBy(code: number, reason: string, fault: string | undefined): void {
    this.closed = true;
    this.dropPending();
    this.settings.topics?.closed(this);
    const handler = this.handler;
    this.handler = undefined;
    const refused = fault ?? (this.refusedFrame ? CLOSE.message_too_big.reason : undefined);
    if (handler === undefined) this.closedWith = { code, reason, fault: refused };
    else handler.onClose(code, reason, refused);
  }

  /**
   * Writes the held frames in cork-sized runs while uWS takes them without backpressure (called by
   * the turn's flush). A run of one frame is sent uncorked: uWS then corks and writes it itself and
   * its answer says whether backpressure built up, so it costs one call into uWS instead of four.
   * The backpressure the loop starts from is the one read after the last write or drain event: the
   * other writes (the pongs uWS answers natively, the core's pings) are rare and small, and a run
   * that meets backpressure they left only takes uWS's slower path once before it is read again.
   */
  flush(): void {
    this.queued = false;
    if (this.closed) return;
    const { ws, pending } = this;
    if (this.settings.batchMax > 0) {
      if (!this.sendBatches(false)) return;
    } else {
      // uWS writes this turn's topic publications to the socket ahead of its first run, in the same cork: that run leaves room for them.
      let topicBytes = this.settings.topics?.pendingFor(this) ?? 0;
      while (this.backpressure === 0 && this.head < this.count) {
        const end = this.runEnd(topicBytes);
        if (end === this.head + 1 && topicBytes === 0) {
          const status = this.sendFrame(pending[this.head]!, this.pendingSizes[this.head]!);
          pending[this.head] = undefined;
          this.pendingBytes -= this.pendingSizes[this.head++]!;
          if (status === SENT) continue;
          if (status === DROPPED) this.overflowed = true;
        } else {
          this.corkAndWrite(end);
          topicBytes = 0;
        }
        if (this.overflowed) {
          this.terminate();
          return;
        }
        this.backpressure = ws.getBufferedAmount();
      }
    }
    if (this.head === this.count) this.head = this.count = 0;
    else if (this.head >= 1024 && 2 * this.head >= this.count) {
      // A socket that stays behind moves what it holds to the front rather than growing without end.
      const count = this.count - this.head;
      pending.copyWithin(0, this.head, this.count);
      pending.fill(undefined, count, this.count);
      this.pendingSizes.copyWithin(0, this.head, this.count);
      this.head = 0;
      this.count = count;
    }
    this.settleDrain();
    this.settle();
  }

  /** ws.send, with uWS's direct path ruled out for payloads of UWS_DIRECT_BYTES and more (see there). */
  private sendFrame(payload: BatchEvent, bytes: number): number {
    const { compress } = this.settings;
    return this.ws.send(payload, false, compress || bytes >= UWS_DIRECT_BYTES);
  }

  /**
   * A batching socket's held events, joined into batch frames (BatchJoiner), one send each, while
   * uWS takes them without backpressure (or all of them, when `all`: the socket is closing). False:
   * uWS dropped one, and the socket is terminated.
   */
  private sendBatches(all: boolean): boolean {
    if (this.backpressure !== 0 && !all) return true;
    const { ws, pending, pendingSizes } = this;
    const from = this.head;
    const { payloads, ends } = joiner.join(pending, from, this.count, this.settings.batchMax);
    for (let b = 0; b < payloads.length; b++) {
      const payload = payloads[b]!;
      const status = this.sendFrame(payload, payload.length);
      const end = from + ends[b]!;
      let bytes = 0;
      for (let i = this.head; i < end; i++) {
        pending[i] = undefined;
        bytes += pendingSizes[i]!;
      }
      this.head = end;
      this.pendingBytes -= bytes;
      if (status === DROPPED && !all) {
        this.terminate();
        return false;
      }
      if (status !== SENT && !all) {
        this.backpressure = ws.getBufferedAmount();
        if (this.backpressure !== 0) break;
      }
    }
    return true;
  }

  /** Sends the held frames up to `end` (called inside ws.cork). */
  writeRun(end: number): void {
    const { pending, pendingSizes } = this;
    let bytes = 0;
    for (let i = this.head; i < end; i++) {
      if (this.sendFrame(pending[i]!, pendingSizes[i]!) === DROPPED) this.overflowed = true;
      pending[i] = undefined;
      bytes += pendingSizes[i]!;
    }
    this.head = end;
    this.pendingBytes -= bytes;
  }

  private write(data: BatchEvent, bytes: number): boolean {
    if (this.closed) return true;
    if (!this.queued) {
      this.turnBase = this.backpressure + this.pendingBytes;
      this.schedule();
      if (this.settled) {
        this.settled = false;
        this.handler?.onBusy?.();
      }
    }
    this.pending[this.count] = data;
    this.pendingSizes[this.count++] = bytes;
    this.pendingBytes += bytes;
    // Judged on what was buffered before this turn: this turn's frames have not met the kernel yet (see TransportSocket.sendPrepared).
    if (this.turnBase < this.settings.highWaterMark) return true;
    this.owesDrain = true;
    return false;
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    scheduleFlush(this);
  }

  /** The core hears onDrain once what is buffered is below the mark again. */
  private settleDrain(): void {
    if (this.owesDrain && this.backpressure + this.pendingBytes < this.settings.highWaterMark) {
      this.owesDrain = false;
      this.handler?.onDrain();
    }
  }

  /** With topics: the core hears onSettled once nothing is held here nor in uWS, if a topic it is in takes publications (else it stays busy, at no cost per turn). */
  private settle(): void {
    const { topics } = this.settings;
    if (this.settled || topics === undefined || this.closed || this.head < this.count || this.backpressure !== 0 || !topics.takesAny(this)) return;
    this.settled = true;
    this.handler?.onSettled?.();
  }

  /** The end of the run of held frames, from `head`, that fits uWS's cork buffer after `before` bytes (at least one frame). */
  private runEnd(before: number): number {
    const { pendingSizes } = this;
    const { corkBytes } = this.settings;
    let end = this.head;
    let bytes = before + frameBytes(pendingSizes[end++]!);
    while (end < this.count) {
      bytes += frameBytes(pendingSizes[end]!);
      if (bytes >= corkBytes) break;
      end++;
    }
    return end;
  }

  private corkAndWrite(end: number): void {
    corking = this;
    runEnd = end;
    try {
      this.ws.cork(writeCorking);
    } finally {
      corking = undefined;
    }
  }

  private dropPending(): void {
    this.pending.fill(undefined, this.head, this.count);
    this.head = this.count = 0;
    this.pendingBytes = 0;
  }
}
