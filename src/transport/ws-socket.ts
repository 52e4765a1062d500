import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { PreparedFrame, SocketHandler, TransportSocket } from '../net/socket.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { BatchEvent, BatchJoiner } from './batch-join.js';
import { HeldPong, PONG, frameText, framedJoiner, payloadJoiner, type WsFrame } from './ws-frames.js';

const EMPTY = Buffer.alloc(0);

const isHeldPong = (entry: unknown): entry is HeldPong => entry instanceof HeldPong;

const kAdapter = Symbol('sluice.adapter');
type Tagged<T> = T & { [kAdapter]: WsSocket };

/**
 * A batch goes to the socket before the turn ends once it holds this many high-water marks: a turn
 * takes each connection's share of frames twice (the rest of one share in the poll phase, the next
 * share at its renewal), and a mark of 1 KiB frames is less than a share, so a lower limit would
 * split the turn's writes again.
 */
const BATCH_MARKS = 4;

/** Batches up to this size are copied into one buffer carved from Node's buffer pool (no allocation of their own). */
const POOLED_BYTES = Buffer.poolSize >>> 1;

/**
 * A `ws` connection behind the transport seam. Without compression every frame (prepared data
 * frames and control text alike) is framed here and written straight to the TCP socket, in call
 * order. Frames sent from cork() on are collected in a plain array, the socket's batch, and handed
 * to the socket in one write at the end of the event-loop turn (one setImmediate for every socket
 * of the process), or sooner once the batch holds `BATCH_MARKS` high-water marks: a Writable's own
 * cork would allocate a write request per frame and a writev array per flush. Holding the batch
 * past uncork() until the turn ends lets what one turn produces for a socket go out in one call,
 * where a flush per uncork() (per read, or per share of a connection's frames) split it into
 * several small ones: the kernel charges per call. A socket that negotiated compression goes
 * through ws.send and the socket's own cork. A socket that selected `sluice.batch` (`batchMax` >
 * 0) holds its turn's events unframed, with or without compression, and at the flush they go out
 * joined into batch frames (BatchJoiner), each pong in its place between them.
 */
export class WsSocket implements TransportSocket {
  handler: SocketHandler | undefined;
  /** The close ws itself sent for a protocol error (its code, no reason), and what ws found: reported instead of what the peer answered. */
  error: { code: number; fault: string } | undefined;
  /** The close sent by abandon(): reported as what the peer received (the server reads no answer). */
  abandoned: { code: number; reason: string } | undefined;
  /** Bytes the peer sent since abandon(), dropped unread. */
  dropped = 0;
  private readonly raw: Socket;
  private readonly compress: boolean;
  /** ws's frame parser; its `_allowSynchronousEvents` is the option of that name, per socket; `_buffers` what it has yet to parse. */
  private readonly receiver: Receiver;

  constructor(
    readonly ws: WebSocket,
    readonly remoteAddress: string,
    private readonly highWaterMark: number,
    /** After abandon(), this much of what the peer sends is read and dropped before reading stops. */
    readonly dropLimit: number,
    /** The largest batch frame, on a socket that selected `sluice.batch`; 0: one event per frame. */
    private readonly batchMax = 0,
  ) {
    this.raw = (ws as unknown as { _socket: Socket })._socket;
    this.receiver = (ws as unknown as { _receiver: Receiver })._receiver;
    this.compress = ws.extensions.includes('permessage-deflate');
    // Our high-water mark must not be below the socket's, or a full socket might never emit 'drain'.
    this.highWaterMark = Math.max(highWaterMark, this.raw.writableHighWaterMark);
  }

  /**
   * Frames written since cork() and not handed to the socket yet, oldest first: framed, or with
   * `batchMax`, events and pongs to join and frame at the flush.
   */
  private batch: Array<Buffer | string | HeldPong> = [];
  private batchBytes = 0;
  /** Pongs in the batch: a turn without one (the usual) joins its events without looking for them. */
  private heldPongs = 0;
  private batching = false;
  /** The batch waits for the end of the turn (the socket is in `due`). */
  private flushDue = false;

  bufferedAmount(): number {
    return (this.compress ? this.ws.bufferedAmount : this.raw.writableLength) + this.batchBytes;
  }

  sendPrepared(frame: PreparedFrame): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return true;
    const f = frame as WsFrame;
    if (this.holds()) this.hold(f.payload, f.payload.length);
    else if (this.compress) this.ws.send(f.payload, this.drainAfter(f.payload.length));
    else this.write(f.framed);
    return this.underHighWaterMark();
  }

  sendText(text: string): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return true;
    if (this.holds()) this.hold(text, Buffer.byteLength(text));
    else if (this.compress) this.ws.send(text, this.drainAfter(Buffer.byteLength(text)));
    else this.write(frameText(Buffer.from(text)));
    return this.underHighWaterMark();
  }

  /** A batching socket holds what it is sent from cork() on, and behind what it holds. */
  private holds(): boolean {
    return this.batchMax > 0 && (this.batching || this.batch.length > 0);
  }

  private hold(event: BatchEvent | HeldPong, bytes: number): void {
    this.batch.push(event);
    this.batchBytes += bytes;
    if (this.batchBytes >= this.highWaterMark * BATCH_MARKS) this.flushBatch();
  }

  cork(): void {
    if (this.compress && this.batchMax === 0) {
      this.corkBase = this.ws.bufferedAmount;
      this.raw.cork();
    } else {
      this.batching = true;
    }
  }

  /** The batch goes to the socket at the end of the turn (or sooner, once it holds `BATCH_MARKS` high-water marks). */
  uncork(): void {
    if (this.compress && this.batchMax === 0) {
      this.corkBase = -1;
      this.raw.uncork();
      return;
    }
    this.batching = false;
    if (this.batch.length > 0 && !this.flushDue) {
      this.flushDue = true;
      flushAtTurnEnd(this);
    }
  }

  private write(frame: Buffer): void {
    if (!this.batching && this.batch.length === 0) this.raw.write(frame);
    // Behind a batch not yet flushed, in order.
    else this.hold(frame, frame.length);
  }

  /** What waits goes out before a close frame: ours, or the one ws answers the peer's close with. */
  flushBeforeClose(): void {
    this.batching = false;
    this.flushBatch();
  }

  /** The turn ended: the batch goes to the socket. */
  endTurn(): void {
    this.flushDue = false;
    this.flushBatch();
  }

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    if (this.ws.readyState === WebSocket.OPEN) {
      if (this.batchMax === 0) this.writeFrames(this.batch as Buffer[]);
      else if (!this.compress) this.writeFramed();
      else {
        // ws deflates each batch frame (per socket, as any message); control frames are never deflated.
        for (const e of this.joined(payloadJoiner, false)) {
          if (e instanceof HeldPong) this.ws.pong(e.payload, false, this.drainAfter(e.payload.length));
          else this.ws.send(e, this.drainAfter(e.length));
        }
      }
    }
    this.batch.length = 0;
    this.batchBytes = 0;
    this.heldPongs = 0;
  }

  /** The held events as batch frames: a run other sockets share goes out in one write of its frames back to back. */
  private writeFramed(): void {
    if (this.heldPongs === 0) {
      const run = framedJoiner.join(this.batch as BatchEvent[], 0, this.batch.length, this.batchMax);
      const whole = run.sharedWhole();
      if (whole === undefined) this.writeFrames(run.payloads);
      else this.raw.write(whole);
    } else {
      this.writeFrames(this.joined(framedJoiner, true) as readonly Buffer[]);
    }
  }

  private writeFrames(frames: readonly Buffer[]): void {
    const n = frames.length;
    if (n === 1) {
      this.raw.write(frames[0]!);
      return;
    }
    let bytes = 0;
    for (const frame of frames) bytes += frame.length;
    if (bytes <= POOLED_BYTES) {
      this.raw.write(Buffer.concat(frames, bytes));
    } else {
      // Large batches go out as one writev of the shared frames: copying them would cost more.
      this.raw.cork();
      for (const frame of frames) this.raw.write(frame);
      this.raw.uncork();
    }
  }

  /**
   * The held events joined into batch payloads by `joiner`, each pong left in its place between
   * them (framed, with `framePongs`). A turn without a pong, the usual one, is the joiner's own
   * payloads, shared with the sockets of the same run: nothing is allocated per socket.
   */
  private joined(joiner: BatchJoiner, framePongs: boolean): ReadonlyArray<Buffer | HeldPong> {
    const { batch } = this;
    if (this.heldPongs === 0) return joiner.join(batch as BatchEvent[], 0, batch.length, this.batchMax).payloads;
    const out: Array<Buffer | HeldPong> = [];
    let start = 0;
    for (let i = 0; i <= batch.length; i++) {
      const entry = batch[i];
      if (i < batch.length && !isHeldPong(entry)) continue;
      if (i > start) for (const payload of joiner.join(batch as BatchEvent[], start, i, this.batchMax).payloads) out.push(payload);
      if (entry !== undefined) out.push(framePongs ? frameText((entry as HeldPong).payload, PONG) : (entry as HeldPong));
      start = i + 1;
    }
    return out;
  }

  /** With compression: what ws buffered when the socket's cork began; the corked writes have not met the kernel yet. */
  private corkBase = -1;

  /**
   * Judged on what the kernel refused so far, not on the batch: the batch has not been offered to
   * the kernel yet, so its size says nothing about the peer, and it goes out within the turn or
   * once it holds `BATCH_MARKS` high-water marks. Blocking only above the TCP socket's own mark
   * also means the socket owes a 'drain'.
   */
  private underHighWaterMark(): boolean {
    if (this.compress) return (this.corkBase >= 0 ? this.corkBase : this.ws.bufferedAmount) < this.highWaterMark;
    return this.raw.writableLength < this.highWaterMark;
  }

  /**
   * With compression, ws counts what waits to be deflated in `bufferedAmount`, but the TCP socket
   * emits 'drain' only once it refused bytes itself: a burst over the mark that the kernel takes
   * (it deflates small, or the peer reads) would leave the core waiting for a drain that never
   * comes, the subscriber stalled for good. A frame of `bytes` sent with compression at or over
   * the mark therefore gets this callback (one closure per socket, made when first needed), which
   * says drain once ws has written it and what ws holds is below the mark; under the mark, none
   * (undefined). A socket the kernel filled says it with 'drain' too.
   */
  private drainAfter(bytes: number): ((err?: Error) => void) | undefined {
    if (this.ws.bufferedAmount + bytes < this.highWaterMark) return undefined;
    return (this.onWritten ??= (err?: Error) => {
      if (err == null && this.ws.readyState === WebSocket.OPEN && this.ws.bufferedAmount < this.highWaterMark) this.handler?.onDrain();
    });
  }

  private onWritten: ((err?: Error) => void) | undefined;

  sendPong(payload: Buffer): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return true;
    if (this.holds()) {
      this.heldPongs++;
      this.hold(new HeldPong(payload), payload.length);
    }
    else if (this.compress) this.ws.pong(payload, false, this.drainAfter(payload.length));
    else this.write(frameText(payload, PONG));
    return this.underHighWaterMark();
  }

  /** Stops reading; ws still parses the rest of the read under way (up to 64 KiB) in this turn. */
  pause(): void {
    this.ws.pause();
  }

  /**
   * The rest of the read under way (up to 64 KiB: thousands of small frames) is parsed one frame
   * per turn (ws's `allowSynchronousEvents: false`, which defers each event to a setImmediate), so
   * a peer whose requests wait costs one frame per turn until it is read again.
   */
  deferParsing(): void {
    this.receiver._allowSynchronousEvents = false;
  }

  resume(): void {
    this.receiver._allowSynchronousEvents = true;
    this.ws.resume();
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  close(code: number, reason: string): void {
    this.flushBeforeClose();
    this.ws.close(code, reason);
  }

  abandon(code: number, reason: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      this.close(code, reason);
      return;
    }
    this.abandoned = { code, reason };
    // From now on the peer's bytes are dropped unparsed, as ws does itself after a protocol error;
    // so is the rest of the read under way (up to 64 KiB of frames, else all parsed in this turn).
    this.receiver._buffers = [];
    this.receiver._bufferedBytes = 0;
    this.raw.removeAllListeners('data');
    this.raw.on('data', dropInbound);
    // Reading may have been stopped (the peer's requests waited): its close frame and FIN must still be read.
    this.raw.resume();
    const { raw } = this;
    if (this.compress) {
      // The close frame may wait behind messages still being deflated, and ws says nothing when it
      // is written. Frames leave ws's sender in order, and control frames are never deflated: once
      // an empty pong queued just before it is written (an unsolicited pong needs no answer, RFC
      // 6455 §5.5.3), the close frame has been handed to the socket, and the FIN may follow.
      this.ws.pong(EMPTY, false, (err?: Error) => {
        if (err == null) raw.end();
      });
      this.close(code, reason);
      return;
    }
    // Compressing nothing, ws hands the close frame to the socket at once: the FIN follows it.
    this.close(code, reason);
    raw.end();
  }

  terminate(): void {
    this.batch.length = 0;
    this.batchBytes = 0;
    this.heldPongs = 0;
    this.ws.terminate();
  }
}

/** ws 8's Receiver: the fields the adapter sets, and its events. */
interface Receiver extends NodeJS.EventEmitter {
  _allowSynchronousEvents: boolean;
  _buffers: Buffer[];
  _bufferedBytes: number;
}

/** Sockets whose batch waits for the end of the turn, and whether that flush is scheduled. */
let due: WsSocket[] = [];
let dueScheduled = false;

function flushAtTurnEnd(socket: WsSocket): void {
  due.push(socket);
  if (!dueScheduled) {
    dueScheduled = true;
    setImmediate(flushDue);
  }
}

/** One setImmediate for every socket of the process; one a later write makes due again waits for the next. */
function flushDue(): void {
  dueScheduled = false;
  const sockets = due;
  due = [];
  for (const socket of sockets) socket.endTurn();
}

const adapterOf = (target: WebSocket | Socket): WsSocket => (target as Tagged<WebSocket | Socket>)[kAdapter];

// Listeners are module-level functions that find their adapter through the emitter: no closures per connection.
function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  adapterOf(this).handler?.onMessage(data, isBinary);
}
function onPong(this: WebSocket): void {
  adapterOf(this).handler?.onPong();
}
function onPing(this: WebSocket, data: Buffer): void {
  adapterOf(this).handler?.onPing(data, data.length);
}
/**
 * The close code ws sent after a protocol error: ws keeps it on the error under a symbol it does
 * not export (`status-code`); its documented `code` (WS_ERR_…) does not say it for inflate errors.
 */
function sentCode(err: Error): number {
  const key = Object.getOwnPropertySymbols(err).find((s) => s.description === 'status-code');
  const code = key === undefined ? undefined : (err as unknown as Record<symbol, unknown>)[key];
  return typeof code === 'number' ? code : CLOSE.protocol_error.code;
}
function onError(this: WebSocket, err: Error): void {
  // ws closes the connection itself after a protocol error, with a close frame of a code and no reason.
  const adapter = adapterOf(this);
  if (adapter.error !== undefined || adapter.abandoned !== undefined) return;
  const code = sentCode(err);
  adapter.error = { code, fault: code === CLOSE.message_too_big.code ? CLOSE.message_too_big.reason : err.message };
}
function onClose(this: WebSocket, code: number, reason: Buffer): void {
  const adapter = adapterOf(this);
  const handler = adapter.handler;
  adapter.handler = undefined;
  const { error, abandoned } = adapter;
  if (abandoned !== undefined) handler?.onClose(abandoned.code, abandoned.reason);
  else if (error === undefined) handler?.onClose(code, reason.toString());
  else handler?.onClose(error.code, '', error.fault);
}
function onConclude(this: Tagged<object>): void {
  this[kAdapter].flushBeforeClose();
}
function onDrain(this: Socket): void {
  adapterOf(this).handler?.onDrain();
}
/** What an abandoned peer sends: dropped; past the adapter's limit, reading stops (TCP pushes back). */
function dropInbound(this: Socket, chunk: Buffer): void {
  const adapter = adapterOf(this);
  adapter.dropped += chunk.length;
  if (adapter.dropped > adapter.dropLimit) this.pause();
}


/** Wraps an accepted ws connection in its adapter and listens to it through module-level listeners. */
export function adapt(ws: WebSocket, remoteAddress: string, highWaterMark: number, dropLimit: number, batchMax = 0): WsSocket {
  const adapter = new WsSocket(ws, remoteAddress, highWaterMark, dropLimit, batchMax);
  (ws as Tagged<WebSocket>)[kAdapter] = adapter;
  const raw = (ws as unknown as { _socket: Tagged<Socket> })._socket;
  raw[kAdapter] = adapter;
  // Ahead of ws's own listener, which sends the close frame that answers the peer's.
  const receiver = (ws as unknown as { _receiver: Tagged<Receiver> })._receiver;
  receiver[kAdapter] = adapter;
  receiver.prependListener('conclude', onConclude);
  ws.on('message', onMessage);
  ws.on('ping', onPing);
  ws.on('pong', onPong);
  ws.on('error', onError);
  ws.on('close', onClose);
  raw.on('drain', onDrain);
  return adapter;
}
