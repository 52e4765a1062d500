import { randomBytes } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';

/**
 * The raw-frame WebSocket client of the load tools: it frames and parses the wire format itself so
 * that counting a delivery costs a header read, not a string. Server frames are never masked and
 * never fragmented by the servers we test; client frames use the all-zero mask (valid per RFC 6455
 * and free to apply).
 *
 * Reads land in one buffer per thread (net's `onread`), parsed in place before the next read: no
 * allocation, no stream machinery and no copy per read. Only a frame split across two reads is
 * copied, into the client's own carry buffer, so a generator thread counts millions of frames per
 * second of its CPU.
 *
 * Batch frames: a client that offers `sluice.batch` (`connect`'s `protocols`) and sees the server
 * select it reads every text frame as one or more events joined by 0x0A (docs/protocol.md) and hands
 * each event to `onFrame` on its own, found with `Buffer.indexOf` (memchr), never decoded; a
 * frame's events are 1 + its 0x0A bytes. Binary frames are never split. A batch frame that a read
 * cuts short is not carried whole: its events are handed on from the read buffer as each one
 * completes, and only an event cut short is copied (batch frames of tens of KiB straddle most reads;
 * carrying them whole copied most of the bytes a batching generator received a second time).
 */
export interface WireHandler {
  onOpen(): void;
  /** One text or binary frame, or one event of a batch frame; the payload is buf[start, end) and only valid during the call. */
  onFrame(buf: Buffer, start: number, end: number): void;
  /** Exactly once: the close code from the server's close frame, 1006 without one, or 0 if it never opened. */
  onClose(code: number): void;
}

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const NEWLINE = 0x0a;
/** The subprotocol that turns batch frames on (docs/protocol.md). */
export const BATCH_PROTOCOL = 'sluice.batch';
const OP_PING = 0x9;
/** Every read of every client of this thread lands here and is parsed before the next read. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
/** A handshake response head larger than this is refused (our servers send a few hundred bytes). */
const MAX_RESPONSE_HEAD = 16 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
const SELECTED_PROTOCOL = /\r\nsec-websocket-protocol:[ \t]*([^\r]*)/i;

/** The size of the frame at `off` (header included), or 0 when fewer than its header's bytes are at hand. */
function frameSize(buf: Buffer, off: number, avail: number): number {
  if (avail < 2) return 0;
  const len = buf[off + 1]! & 0x7f;
  if (len < 126) return 2 + len;
  if (len === 126) return avail < 4 ? 0 : 4 + buf.readUInt16BE(off + 2);
  return avail < 10 ? 0 : 10 + Number(buf.readBigUInt64BE(off + 2));
}

export class WireClient {
  private socket: Socket | undefined;
  private closeCode = 1006;
  private done = false;
  private opened = false;
  private timer: NodeJS.Timeout | undefined;
  /** The handshake response read so far (until the blank line). */
  private head: Buffer | undefined;
  /** A frame split across reads: its bytes so far, and its whole size once its header is in (0 before). */
  private carry: Buffer | undefined;
  private carryLen = 0;
  private carryNeed = 0;
  /** Payload bytes of a batch frame that later reads will bring (its events are handed on as they complete); 0: none. */
  private streamLeft = 0;
  /** The start of that frame's event the last read cut short. */
  private partial: Buffer | undefined;
  private partialLen = 0;
  /** The HTTP status of a refused handshake (0 while none was refused). */
  refusedStatus = 0;
  /** The socket's error code (e.g. `ECONNREFUSED`, `ETIMEDOUT`), if it failed. */
  failure: string | undefined;
  /** The subprotocol the server selected in its 101, if any. */
  protocol: string | undefined;
  /** The reason in the server's close frame ('' without one). */
  closeReason = '';
  /** Answer the server's close frame before ending, as RFC 6455 asks (false: end without it, as a careless peer does). */
  echoClose = true;
  /** Answer the server's pings (false: a peer the heartbeat finds gone). */
  answerPings = true;
  /** The server selected `sluice.batch`: text frames are split into events. */
  private batched = false;

  /** `counts.frames`, when given, counts the data frames received (a batch frame once, whatever its events). */
  constructor(
    private readonly handler: WireHandler,
    private readonly counts?: { frames: number },
  ) {}

  /** Starts the opening handshake, offering `protocols` (e.g. `[BATCH_PROTOCOL]`) when given; `timeoutMs` bounds it. */
  connect(url: URL, path: string, timeoutMs: number, protocols: readonly string[] = []): void {
    const host = url.hostname;
    const port = Number(url.port);
    const socket = createConnection({
      host,
      port,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          this.onRead(buf as Buffer, n);
          return true;
        },
      },
    });
    this.socket = socket;
    this.timer = setTimeout(() => {
      this.failure ??= 'handshake timeout';
      socket.destroy();
    }, timeoutMs);
    socket.setNoDelay(true);
    socket.on('connect', () => {
      const key = randomBytes(16).toString('base64');
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${protocols.length > 0 ? `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n` : ''}\r\n`);
    });
    socket.on('close', () => this.finish());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failure ??= err.code ?? err.message;
      socket.destroy();
    });
  }

  get isOpen(): boolean {
    return this.opened && !this.done;
  }

  sendText(text: string): void {
    if (!this.isOpen) return;
    this.socket!.write(clientFrame(text));
  }

  /** Writes bytes already framed (by `clientFrame`, or deliberately malformed), e.g. many frames concatenated. */
  sendFrames(bytes: Buffer): void {
    if (!this.isOpen) return;
    this.socket!.write(bytes);
  }

  /** Sends many frames in one write. */
  sendTexts(texts: string[]): void {
    if (!this.isOpen || texts.length === 0) return;
    this.socket!.write(Buffer.concat(texts.map((t) => clientFrame(t))));
  }

  /** Stops reading: the kernel buffers fill and TCP pushes back on the server. */
  pause(): void {
    this.socket?.pause();
  }

  /** Sends a close frame and ends the socket. */
  close(code = 1000): void {
    if (!this.isOpen) return;
    const payload = Buffer.allocUnsafe(2);
    payload.writeUInt16BE(code);
    this.socket!.end(clientFrame(payload, OP_CLOSE));
  }

  /** Drops the connection without a closing handshake. */
  destroy(): void {
    this.socket?.destroy();
    if (this.socket === undefined) this.finish();
  }

  private finish(): void {
    clearTimeout(this.timer);
    if (this.done) return;
    this.done = true;
    this.handler.onClose(this.opened ? this.closeCode : 0);
  }

  private onRead(buf: Buffer, n: number): void {
    if (this.done) return;
    if (this.opened) this.onFrames(buf, 0, n);
    else this.onHandshake(buf, n);
  }

  /** Reads the response head; a 101 opens the connection, anything else is a refusal. */
  private onHandshake(buf: Buffer, n: number): void {
    const head = this.head === undefined ? Buffer.from(buf.subarray(0, n)) : Buffer.concat([this.head, buf.subarray(0, n)]);
    const end = head.indexOf(HEAD_END);
    if (end < 0) {
      this.head = head;
      if (head.length > MAX_RESPONSE_HEAD) this.socket!.destroy();
      return;
    }
    this.head = undefined;
    const text = head.toString('latin1', 0, end);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    if (status !== 101) {
      this.refusedStatus = status;
      this.socket!.destroy();
      return;
    }
    this.protocol = SELECTED_PROTOCOL.exec(text)?.[1]?.trim();
    this.batched = this.protocol === BATCH_PROTOCOL;
    clearTimeout(this.timer);
    this.opened = true;
    this.handler.onOpen();
    if (end + 4 < head.length) this.onFrames(head, end + 4, head.length);
  }

  private onFrames(buf: Buffer, off: number, n: number): void {
    if (this.streamLeft > 0 && (off = this.continueStream(buf, off, n)) === n) return;
    if (this.carryLen > 0 && (off = this.fillCarry(buf, off, n)) === n) return;
    while (!this.done) {
      const size = frameSize(buf, off, n - off);
      if (size === 0) break;
      if (n - off < size) {
        if (!this.batched || (buf[off]! & 0x0f) !== OP_TEXT) break;
        this.startStream(buf, off, n, size);
        return;
      }
      this.dispatch(buf, off, size);
      off += size;
    }
    if (off < n && !this.done) this.startCarry(buf, off, n);
  }

  /** A batch frame this read holds the start of (`size` bytes in all): its events so far go on, the one cut short is kept. */
  private startStream(buf: Buffer, off: number, n: number, size: number): void {
    if (this.counts !== undefined) this.counts.frames++;
    this.streamLeft = off + size - n;
    const tail = this.events(buf, payloadStart(buf, off), n, false);
    this.keepPartial(buf, tail, n);
  }

  /** The rest of a streamed batch frame, or as much of it as this read holds; returns where the read's next frame starts. */
  private continueStream(buf: Buffer, off: number, n: number): number {
    const to = off + Math.min(this.streamLeft, n - off);
    this.streamLeft -= to - off;
    const last = this.streamLeft === 0;
    let from = off;
    if (this.partialLen > 0) {
      const nl = lineEnd(buf, off, to);
      this.keepPartial(buf, off, nl);
      if (nl === to && !last) return to;
      this.handler.onFrame(this.partial!, 0, this.partialLen);
      this.partialLen = 0;
      if (nl === to || this.done) return to;
      from = nl + 1;
    }
    this.keepPartial(buf, this.events(buf, from, to, last), to);
    return to;
  }

  /** Appends buf[from, to) to the event cut short. */
  private keepPartial(buf: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const need = this.partialLen + to - from;
    if (this.partial === undefined || this.partial.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * (this.partial?.length ?? 1024)));
      this.partial?.copy(grown, 0, 0, this.partialLen);
      this.partial = grown;
    }
    buf.copy(this.partial, this.partialLen, from, to);
    this.partialLen = need;
  }

  /** Keeps the start of a frame the read cut short (a frame at most: the copy is small). */
  private startCarry(buf: Buffer, off: number, n: number): void {
    const need = frameSize(buf, off, n - off);
    this.reserveCarry(Math.max(need, 16));
    buf.copy(this.carry!, 0, off, n);
    this.carryLen = n - off;
    this.carryNeed = need;
  }

  /** Completes the carried frame from this read; returns where the read's own frames start. */
  private fillCarry(buf: Buffer, off: number, n: number): number {
    while (this.carryNeed === 0) {
      if (off === n) return n;
      this.carry![this.carryLen++] = buf[off++]!;
      this.carryNeed = frameSize(this.carry!, 0, this.carryLen);
    }
    this.reserveCarry(this.carryNeed);
    const take = Math.min(this.carryNeed - this.carryLen, n - off);
    buf.copy(this.carry!, this.carryLen, off, off + take);
    this.carryLen += take;
    off += take;
    if (this.carryLen < this.carryNeed) return n;
    const size = this.carryNeed;
    this.carryLen = 0;
    this.carryNeed = 0;
    this.dispatch(this.carry!, 0, size);
    return off;
  }

  private reserveCarry(bytes: number): void {
    if (this.carry !== undefined && this.carry.length >= bytes) return;
    const grown = Buffer.allocUnsafe(Math.max(bytes, 2 * (this.carry?.length ?? 1024)));
    if (this.carry !== undefined) this.carry.copy(grown, 0, 0, this.carryLen);
    this.carry = grown;
  }

  /** Hands one whole frame (header at `off`, `size` bytes in all) to the handler. */
  private dispatch(buf: Buffer, off: number, size: number): void {
    const start = payloadStart(buf, off);
    const end = off + size;
    const opcode = buf[off]! & 0x0f;
    if (opcode < 0x8) {
      if (this.counts !== undefined) this.counts.frames++;
      if (opcode === OP_TEXT && this.batched) this.events(buf, start, end, true);
      else this.handler.onFrame(buf, start, end);
    } else if (opcode === OP_CLOSE) {
      this.closeCode = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
      this.closeReason = end - start > 2 ? buf.toString('utf8', start + 2, end) : '';
      // Completes the closing handshake, as RFC 6455 asks: the server need not wait for a timeout.
      if (this.echoClose) this.socket?.end(clientFrame(buf.subarray(start, Math.min(end, start + 2)), OP_CLOSE));
      else this.socket?.end();
    } else if (opcode === OP_PING && this.answerPings) this.socket?.write(clientFrame(buf.subarray(start, end), 0xa));
  }

  /**
   * Hands each event in buf[from, to) to the handler; with `last`, `to` ends a frame (and its last
   * event), otherwise an event ends at its 0x0A only, and the start of the one after the last 0x0A
   * (cut short by the read) is returned instead (`to` when there is none). A 0x0A written at `to`
   * (the byte restored after) stops every search there: no scan into the frames after it, no
   * subarray per event.
   */
  private events(buf: Buffer, from: number, to: number, last: boolean): number {
    const fenced = to < buf.length;
    const kept = fenced ? buf[to]! : 0;
    if (fenced) buf[to] = NEWLINE;
    try {
      for (;;) {
        let nl = buf.indexOf(NEWLINE, from);
        if (nl < 0 || nl > to) nl = to;
        if (nl === to && !last) return from;
        this.handler.onFrame(buf, from, nl);
        if (nl === to || this.done) return to;
        from = nl + 1;
      }
    } finally {
      if (fenced) buf[to] = kept;
    }
  }
}

/** Where the payload of the frame whose header is at `off` starts. */
function payloadStart(buf: Buffer, off: number): number {
  const len7 = buf[off + 1]! & 0x7f;
  return off + (len7 < 126 ? 2 : len7 === 126 ? 4 : 10);
}

/** The first 0x0A in buf[from, to), or `to`. */
function lineEnd(buf: Buffer, from: number, to: number): number {
  const nl = buf.indexOf(NEWLINE, from);
  return nl < 0 || nl > to ? to : nl;
}

/** A final client frame (text unless `opcode` says otherwise), masked with the zero mask. */
export function clientFrame(data: Buffer | string, opcode = 0x1): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  const len = payload.length;
  const head = len < 126 ? 6 : len < 65536 ? 8 : 14;
  const out = Buffer.allocUnsafe(head + len);
  out[0] = 0x80 | opcode;
  if (len < 126) {
    out[1] = 0x80 | len;
  } else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  out.writeUInt32BE(0, head - 4);
  payload.copy(out, head);
  return out;
}
