import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The raw-frame WebSocket client of the load tools: it frames and parses the wire format itself so
 * that counting a delivery costs a header read, not a string. Server frames are never masked and
 * never fragmented by the servers we test; client frames use the all-zero mask (valid per RFC 6455
 * and free to apply).
 */
export interface WireHandler {
  onOpen(): void;
  /** One text or binary frame; the payload is buf[start, end) and only valid during the call. */
  onFrame(buf: Buffer, start: number, end: number): void;
  /** Exactly once: the close code from the server's close frame, 1006 without one, or 0 if it never opened. */
  onClose(code: number): void;
}

const OP_CLOSE = 0x8;
const OP_PING = 0x9;

export class WireClient {
  private socket: Socket | undefined;
  private pending: Buffer | undefined;
  private closeCode = 1006;
  private done = false;
  private opened = false;
  /** The HTTP status of a refused handshake (0 while none was refused). */
  refusedStatus = 0;

  constructor(private readonly handler: WireHandler) {}

  /** Starts the opening handshake; `timeoutMs` bounds it. */
  connect(url: URL, path: string, timeoutMs: number): void {
    const req = request({
      host: url.hostname,
      port: url.port,
      path,
      agent: false,
      timeout: timeoutMs,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'Sec-WebSocket-Version': '13',
      },
    });
    req.on('upgrade', (_res, socket: Socket, head: Buffer) => {
      this.socket = socket;
      req.setTimeout(0);
      socket.setTimeout(0);
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('close', () => this.finish());
      socket.on('error', () => socket.destroy());
      this.opened = true;
      this.handler.onOpen();
      if (head.length > 0) this.onData(head);
    });
    req.on('response', (res) => {
      this.refusedStatus = res.statusCode ?? 0;
      res.resume();
      req.destroy();
      this.finish();
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => this.finish());
    req.end();
  }

  get isOpen(): boolean {
    return this.socket !== undefined && !this.done;
  }

  sendText(text: string): void {
    const socket = this.socket;
    if (socket === undefined || this.done) return;
    socket.write(clientFrame(text));
  }

  /** Writes bytes already framed (by `clientFrame`, or deliberately malformed), e.g. many frames concatenated. */
  sendFrames(bytes: Buffer): void {
    if (this.socket === undefined || this.done) return;
    this.socket.write(bytes);
  }

  /** Sends many frames in one write. */
  sendTexts(texts: string[]): void {
    const socket = this.socket;
    if (socket === undefined || this.done || texts.length === 0) return;
    socket.write(Buffer.concat(texts.map((t) => clientFrame(t))));
  }

  /** Stops reading: the kernel buffers fill and TCP pushes back on the server. */
  pause(): void {
    this.socket?.pause();
  }

  /** Sends a close frame and ends the socket. */
  close(code = 1000): void {
    const socket = this.socket;
    if (socket === undefined || this.done) return;
    const payload = Buffer.allocUnsafe(2);
    payload.writeUInt16BE(code);
    socket.end(clientFrame(payload, OP_CLOSE));
  }

  /** Drops the connection without a closing handshake. */
  destroy(): void {
    this.socket?.destroy();
    if (this.socket === undefined) this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.handler.onClose(this.opened ? this.closeCode : 0);
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let off = 0;
    const n = buf.length;
    while (n - off >= 2) {
      const b0 = buf[off]!;
      let len = buf[off + 1]! & 0x7f;
      let head = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        head = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2));
        head = 10;
      }
      if (n - off < head + len) break;
      const start = off + head;
      const end = start + len;
      off = end;
      const opcode = b0 & 0x0f;
      if (opcode < 0x8) this.handler.onFrame(buf, start, end);
      else if (opcode === OP_CLOSE) {
        this.closeCode = len >= 2 ? buf.readUInt16BE(start) : 1005;
        // Completes the closing handshake, as RFC 6455 asks: the server need not wait for a timeout.
        this.socket?.end(clientFrame(buf.subarray(start, Math.min(end, start + 2)), OP_CLOSE));
      } else if (opcode === OP_PING) this.socket?.write(clientFrame(buf.subarray(start, end), 0xa));
    }
    if (off < n) this.pending = buf.subarray(off);
  }
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
