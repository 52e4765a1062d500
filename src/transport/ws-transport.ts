import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import * as wsModule from 'ws';
import { WebSocket, WebSocketServer } from 'ws';
import { rejectUpgrade } from './http-response.js';
import type { HttpRequest, HttpResponse, UpgradeDecision, UpgradeRequest } from '../net/http.js';
import type { TransportCallbacks, TransportCapabilities, TransportOptions, TransportServer } from '../net/server.js';
import type { PreparedFrame, SocketHandler, TransportSocket } from '../net/socket.js';
import { CLOSE } from '../protocol/close-codes.js';
import { HTTP_REFUSALS } from '../protocol/refusals.js';

/** A payload framed once as an unmasked, uncompressed text frame, plus the payload for sockets that compress. */
interface WsFrame {
  readonly payload: Buffer;
  readonly framed: Buffer;
}

/** ws's frame encoder; a public export of ws, missing from @types/ws. */
const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] } }).Sender;

const kAdapter = Symbol('sluice.adapter');
/** The subprotocol an upgrade decision selected, stored on the request for `handleProtocols`. */
const kProtocol = Symbol('sluice.protocol');
type Tagged<T> = T & { [kAdapter]: WsSocket };
type WithProtocol = IncomingMessage & { [kProtocol]?: string };

const { internal_error: INTERNAL_ERROR, shutting_down: SHUTTING_DOWN, malformed_request: MALFORMED } = HTTP_REFUSALS;
const SERVER_ERROR: UpgradeDecision = { accept: false, status: INTERNAL_ERROR.status, body: INTERNAL_ERROR.reason };

function selectProtocol(offered: Set<string>, req: IncomingMessage): string | false {
  return (req as WithProtocol)[kProtocol] ?? offered.values().next().value ?? false;
}

/** Reads a request body of at most `max` bytes; undefined (and the rest left unread) when larger or when the client went away. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', () => resolve(undefined));
    req.on('close', () => resolve(undefined));
  });
}

/** Whether a request carries a body (which is read only when the core asks for it). */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** Batches up to this size are copied into one buffer carved from Node's buffer pool (no allocation of their own). */
const POOLED_BYTES = Buffer.poolSize >>> 1;

/** An unmasked, uncompressed, final frame around `payload` (a server frame): text by default. */
function frameText(payload: Buffer, opcode = 1): Buffer {
  const parts = Sender.frame(payload, { fin: true, rsv1: false, opcode, mask: false, readOnly: false });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

const PONG = 0xa;
const EMPTY = Buffer.alloc(0);

/**
 * A `ws` connection behind the transport seam. Without compression every frame (prepared data
 * frames and control text alike) is framed here and written straight to the TCP socket, in call
 * order. Between cork() and uncork() frames are collected in a plain array and handed to the
 * socket as one buffer: a Writable's own cork would allocate a write request per frame and a
 * writev array per flush, which at fan-out rates costs more than copying a few small frames. A
 * socket that negotiated compression goes through ws.send and the socket's own cork.
 */
class WsSocket implements TransportSocket {
  handler: SocketHandler | undefined;
  /** The close ws itself sent for a protocol error: reported instead of what the peer answered. */
  error: { code: number; reason: string } | undefined;
  /** The close sent by abandon(): reported as what the peer received (the server reads no answer). */
  abandoned: { code: number; reason: string } | undefined;
  /** Bytes the peer sent since abandon(), dropped unread. */
  dropped = 0;
  private readonly raw: Socket;
  private readonly compress: boolean;

  constructor(
    readonly ws: WebSocket,
    readonly remoteAddress: string,
    private readonly highWaterMark: number,
    /** After abandon(), this much of what the peer sends is read and dropped before reading stops. */
    readonly dropLimit: number,
  ) {
    this.raw = (ws as unknown as { _socket: Socket })._socket;
    this.compress = ws.extensions.includes('permessage-deflate');
    // Our high-water mark must not be below the socket's, or a full socket might never emit 'drain'.
    this.highWaterMark = Math.max(highWaterMark, this.raw.writableHighWaterMark);
  }

  /** Frames written since cork(), handed to the socket in one write by uncork(). */
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private batching = false;

  bufferedAmount(): number {
    return this.compress ? this.ws.bufferedAmount : this.raw.writableLength + this.batchBytes;
  }

  sendPrepared(frame: PreparedFrame): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return true;
    const f = frame as WsFrame;
    if (this.compress) this.ws.send(f.payload);
    else this.write(f.framed);
    return this.underHighWaterMark();
  }

  sendText(text: string): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return true;
    if (this.compress) this.ws.send(text);
    else this.write(frameText(Buffer.from(text)));
    return this.underHighWaterMark();
  }

  cork(): void {
    this.corkBase = this.bufferedAmount();
    if (this.compress) this.raw.cork();
    else this.batching = true;
  }

  uncork(): void {
    this.corkBase = -1;
    if (this.compress) {
      this.raw.uncork();
      return;
    }
    this.batching = false;
    this.flushBatch();
  }

  private write(frame: Buffer): void {
    if (this.batching) {
      this.batch.push(frame);
      this.batchBytes += frame.length;
    } else {
      this.raw.write(frame);
    }
  }

  private flushBatch(): void {
    const n = this.batch.length;
    if (n === 0) return;
    if (this.ws.readyState === WebSocket.OPEN) {
      if (n === 1) {
        this.raw.write(this.batch[0]!);
      } else if (this.batchBytes <= POOLED_BYTES) {
        this.raw.write(Buffer.concat(this.batch, this.batchBytes));
      } else {
        // Large batches go out as one writev of the shared frames: copying them would cost more.
        this.raw.cork();
        for (const frame of this.batch) this.raw.write(frame);
        this.raw.uncork();
      }
    }
    this.batch.length = 0;
    this.batchBytes = 0;
  }

  /** Bytes buffered before the current corked batch; the batch itself has not met the kernel yet. */
  private corkBase = -1;

  private underHighWaterMark(): boolean {
    return (this.corkBase >= 0 ? this.corkBase : this.bufferedAmount()) < this.highWaterMark;
  }

  sendPong(payload: Buffer): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return true;
    if (this.compress) this.ws.pong(payload, false);
    else this.write(frameText(payload, PONG));
    return this.underHighWaterMark();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  close(code: number, reason: string): void {
    // Frames already sent go out before the close frame.
    this.batching = false;
    this.flushBatch();
    this.ws.close(code, reason);
  }

  abandon(code: number, reason: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      this.close(code, reason);
      return;
    }
    this.abandoned = { code, reason };
    // From now on the peer's bytes are dropped unparsed, as ws does itself after a protocol error.
    this.raw.removeAllListeners('data');
    this.raw.on('data', dropInbound);
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
    this.ws.terminate();
  }
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
  adapterOf(this).handler?.onPing(data, false);
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
  // ws closes the connection itself after a protocol error; remember the code the peer receives.
  const adapter = adapterOf(this);
  if (adapter.error !== undefined || adapter.abandoned !== undefined) return;
  const code = sentCode(err);
  adapter.error = { code, reason: code === CLOSE.message_too_big.code ? CLOSE.message_too_big.reason : err.message };
}
function onClose(this: WebSocket, code: number, reason: Buffer): void {
  const adapter = adapterOf(this);
  const handler = adapter.handler;
  adapter.handler = undefined;
  const { error, abandoned } = adapter;
  if (abandoned !== undefined) handler?.onClose(abandoned.code, abandoned.reason);
  else if (error === undefined) handler?.onClose(code, reason.toString());
  else handler?.onClose(error.code, error.reason, true);
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

/** Hands an open node:http response to the core as an HttpStream. One per dashboard viewer, not per message. */
function openStream(res: ServerResponse, body: string | Buffer, open: NonNullable<HttpResponse['stream']>): void {
  res.socket?.setNoDelay(true);
  res.write(body);
  const handler = open({
    write: (chunk) => res.write(chunk),
    bufferedAmount: () => res.writableLength,
    end: () => res.end(),
  });
  res.once('close', () => handler.onClose());
}

function headersOf(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** ws stops reading by pausing the TCP socket, and closes nothing on its own. */
export const WS_CAPABILITIES: TransportCapabilities = { library: 'ws', pause: true, maxSilenceMs: Infinity };

/** The portable default transport, on the `ws` library and node:http. */
export class WsTransport implements TransportServer {
  readonly name = 'ws';
  readonly capabilities = WS_CAPABILITIES;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private callbacks: TransportCallbacks | undefined;
  private accepting = true;

  constructor(private readonly options: TransportOptions) {
    // node:http checks every request's head and body time in one sweep every connectionsCheckingInterval.
    const timeout = options.httpRequestTimeoutMs;
    this.http = createServer({ requestTimeout: timeout, headersTimeout: timeout, connectionsCheckingInterval: Math.min(1_000, timeout / 4) }, (req, res) => void this.serveHttp(req, res));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.http.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      // A request too slow to arrive may be half answered already: cut it off.
      if (socket.writable && err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') socket.end(`HTTP/1.1 ${MALFORMED.status} ${STATUS_CODES[MALFORMED.status]}\r\nConnection: close\r\n\r\n`);
      else socket.destroy();
    });
    this.wss = new WebSocketServer({
      noServer: true,
      handleProtocols: selectProtocol,
      maxPayload: options.maxPayloadBytes,
      // The core answers pings (sendPong), within the peer's inbound limits and its backpressure.
      autoPong: false,
      perMessageDeflate: options.perMessageDeflate,
      clientTracking: false,
    });
  }

  prepare(payload: Buffer): PreparedFrame {
    const frame: WsFrame = { payload, framed: frameText(payload) };
    return frame;
  }

  listen(callbacks: TransportCallbacks): Promise<number> {
    this.callbacks = callbacks;
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.options.port, this.options.host, () => {
        this.http.off('error', reject);
        const addr = this.http.address();
        resolve(typeof addr === 'object' && addr ? addr.port : this.options.port);
      });
    });
  }

  async stopAccepting(): Promise<void> {
    this.accepting = false;
  }

  close(): Promise<void> {
    this.accepting = false;
    this.wss.close();
    return new Promise((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const callbacks = this.callbacks!;
    socket.on('error', () => socket.destroy());
    if (!this.accepting) {
      rejectUpgrade(socket, SHUTTING_DOWN.status, SHUTTING_DOWN.reason, { 'Retry-After': '1' });
      return;
    }
    const request: UpgradeRequest = { url: req.url ?? '/', headers: headersOf(req), remoteAddress: req.socket.remoteAddress ?? '' };
    let decision: UpgradeDecision | Promise<UpgradeDecision>;
    try {
      decision = callbacks.onUpgrade(request);
    } catch {
      decision = SERVER_ERROR;
    }
    if (decision instanceof Promise) {
      decision.then(
        (d) => this.complete(req, socket, head, request, d),
        () => this.complete(req, socket, head, request, SERVER_ERROR),
      );
    } else {
      this.complete(req, socket, head, request, decision);
    }
  }

  private complete(req: IncomingMessage, socket: Duplex, head: Buffer, request: UpgradeRequest, decision: UpgradeDecision): void {
    // The client may have gone away while the decision was pending: then there is nothing to answer.
    if (socket.destroyed || !socket.writable) return;
    if (!decision.accept) {
      rejectUpgrade(socket, decision.status, decision.body, decision.headers);
      return;
    }
    const callbacks = this.callbacks!;
    (req as WithProtocol)[kProtocol] = decision.protocol;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const adapter = new WsSocket(ws, request.remoteAddress, this.options.highWaterMarkBytes, this.options.maxPayloadBytes);
      (ws as Tagged<WebSocket>)[kAdapter] = adapter;
      const raw = (ws as unknown as { _socket: Tagged<Socket> })._socket;
      raw[kAdapter] = adapter;
      ws.on('message', onMessage);
      ws.on('ping', onPing);
      ws.on('pong', onPong);
      ws.on('error', onError);
      ws.on('close', onClose);
      raw.on('drain', onDrain);
      adapter.handler = callbacks.onConnection(adapter, request, decision.context);
    });
  }

  private async serveHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      let body: Promise<Buffer | undefined> | undefined;
      const request: HttpRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: headersOf(req),
        remoteAddress: req.socket.remoteAddress ?? '',
        readBody: () => (body ??= readBody(req, this.options.maxHttpBodyBytes)),
      };
      const response = await this.callbacks!.onHttp(request);
      // An unread body is never read: the connection closes after the answer.
      const close = body === undefined && hasBody(req);
      res.writeHead(response.status, close ? { ...response.headers, Connection: 'close' } : response.headers);
      if (response.stream === undefined) res.end(response.body);
      else openStream(res, response.body, response.stream);
    } catch {
      res.writeHead(INTERNAL_ERROR.status, { 'Content-Type': 'text/plain', Connection: 'close' });
      res.end(INTERNAL_ERROR.reason);
    }
  }

}
