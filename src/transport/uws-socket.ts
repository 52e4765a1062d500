import type { UpgradeRequest } from '../net/http.js';
import type { PreparedFrame, SocketHandler, TransportSocket } from '../net/socket.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { UwsData, UwsWebSocket } from './uws-api.js';

/** What uWS keeps per connection: the upgrade request and decision context until `open`, then the adapter. */
export interface UwsUserData {
  request: UpgradeRequest | undefined;
  context: unknown;
  adapter: UwsSocket | undefined;
}

/** Settings shared by every socket of one transport. */
export interface UwsSocketSettings {
  readonly highWaterMark: number;
  readonly maxPayloadBytes: number;
  readonly compress: boolean;
}

// One flush per loop turn for every socket with frames waiting, from setImmediate. uWS corks only
// one socket at a time, and inside any uWS callback (including the process.nextTick that follows
// it) the socket being read holds the cork, so ws.cork() on another socket would write each frame
// with its own syscall. From setImmediate no socket is corked, so each socket gets one write.
let flushList: UwsSocket[] = [];
let flushScheduled = false;
function flushAll(): void {
  flushScheduled = false;
  const list = flushList;
  flushList = [];
  for (const socket of list) socket.flush();
}

// ws.cork() takes a callback; one module-level function and the socket it is writing avoid a closure per flush.
let corking: UwsSocket | undefined;
function writeCorking(): void {
  corking!.writePending();
}

/**
 * A uWebSockets.js connection behind the transport seam. Frames are collected per socket and
 * written at the end of the loop turn inside one ws.cork(), so cork()/uncork() need do nothing.
 * `bufferedAmount` is uWS's user-space backpressure plus the frames not yet flushed; a send
 * reports false while uWS's backpressure is at or above the high-water mark, and the core hears
 * `onDrain` once it is below again (uWS emits drain as its backpressure empties). The backpressure
 * a send is judged on is read from uWS after each flush and each drain event — the only moments it
 * grows, or shrinks in a way the core must hear of — so a delivery costs no call into uWS until the
 * flush. Every uWS call is guarded by `closed`: touching a closed uWS socket throws.
 */
export class UwsSocket implements TransportSocket {
  private handler: SocketHandler | undefined;
  private closed = false;
  /** Set when uWS closed before the core attached its handler. */
  private closedWith: { code: number; reason: string; byTransport: boolean } | undefined;
  /** receive() closed the socket for an oversize frame. */
  private refusedFrame = false;
  private pending: Array<UwsData> = [];
  private pendingBytes = 0;
  private queued = false;
  /** uWS's backpressure as of the last flush or drain event. */
  private backpressure = 0;
  /** A send returned false: the core waits for onDrain. */
  private owesDrain = false;
  /** uWS dropped a frame (maxBackpressure): the stream has a hole, so the socket must go. */
  private overflowed = false;

  constructor(
    private readonly ws: UwsWebSocket<UwsUserData>,
    readonly remoteAddress: string,
    private readonly settings: UwsSocketSettings,
  ) {}

  /** Gives the socket its handler; if uWS closed it meanwhile, the handler hears onClose now. */
  attach(handler: SocketHandler): void {
    if (this.closedWith === undefined) this.handler = handler;
    else handler.onClose(this.closedWith.code, this.closedWith.reason, this.closedWith.byTransport);
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

  ping(): void {
    if (!this.closed) this.ws.ping();
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    if (this.pending.length > 0) this.corkAndWrite();
    this.closed = true;
    // uWS sends the close frame after what it has buffered, and calls the close handler at once.
    this.ws.end(code, reason);
  }

  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropPending();
    this.ws.close();
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

  drained(): void {
    if (this.closed) return;
    this.backpressure = this.ws.getBufferedAmount();
    if (this.owesDrain && this.backpressure < this.settings.highWaterMark) {
      this.owesDrain = false;
      this.handler?.onDrain();
    }
  }

  pong(): void {
    this.handler?.onPong();
  }

  /** uWS's close handler: from here on the uWS socket must not be touched. `byTransport`: uWS refused a frame. */
  closedBy(code: number, reason: string, byTransport: boolean): void {
    this.closed = true;
    this.dropPending();
    const handler = this.handler;
    this.handler = undefined;
    const refused = byTransport || this.refusedFrame;
    if (handler === undefined) this.closedWith = { code, reason, byTransport: refused };
    else handler.onClose(code, reason, refused);
  }

  /** Writes the frames collected this turn (called once per turn by the flush scheduler). */
  flush(): void {
    this.queued = false;
    if (this.closed || this.pending.length === 0) return;
    this.corkAndWrite();
    if (this.overflowed) this.terminate();
    else this.drained();
  }

  writePending(): void {
    const { ws, pending } = this;
    const compress = this.settings.compress;
    for (let i = 0; i < pending.length; i++) if (ws.send(pending[i]!, false, compress) === 2) this.overflowed = true;
    this.dropPending();
  }

  private write(data: UwsData, bytes: number): boolean {
    if (this.closed) return true;
    this.pending.push(data);
    this.pendingBytes += bytes;
    if (!this.queued) {
      this.queued = true;
      flushList.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
    // Judged on uWS's backpressure only: this turn's frames have not met the kernel yet (see TransportSocket.sendPrepared).
    if (this.backpressure < this.settings.highWaterMark) return true;
    this.owesDrain = true;
    return false;
  }

  private corkAndWrite(): void {
    corking = this;
    try {
      this.ws.cork(writeCorking);
    } finally {
      corking = undefined;
    }
  }

  private dropPending(): void {
    this.pending.length = 0;
    this.pendingBytes = 0;
  }
}
