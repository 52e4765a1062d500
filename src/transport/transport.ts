/**
 * The seam between Sluice's core and a WebSocket library. Nothing outside src/transport/ imports
 * `ws` or uWebSockets.js; the core sees only these types. The seam carries backpressure: every
 * send says whether the socket can take more, `bufferedAmount()` tells how much is waiting in user
 * space, and `onDrain` says when to resume.
 */

/** A frame prepared once per publication and written to many sockets (e.g. pre-framed bytes). */
export type PreparedFrame = unknown;

export interface TransportSocket {
  /** The peer's address as the transport saw it. */
  readonly remoteAddress: string;
  /** Bytes accepted by send() but not yet handed to the kernel. */
  bufferedAmount(): number;
  /**
   * Writes a frame prepared by `TransportServer.prepare`. Returns false when the socket is above its
   * high-water mark: the caller should queue further frames until `onDrain`, which the transport
   * must then deliver. Between cork() and uncork() the mark is judged on what was buffered when
   * the batch began: the batch has not been offered to the kernel yet, so its own size says nothing
   * about the peer (a batch is bounded by what one turn of the event loop produces).
   */
  sendPrepared(frame: PreparedFrame): boolean;
  /** Writes a small text frame (control frames: acks, errors, gaps). Same return as sendPrepared. */
  sendText(text: string): boolean;
  /** Batches the following sends into as few writes as possible, until uncork(). */
  cork(): void;
  uncork(): void;
  /** Stops/starts reading from the peer (TCP pushes back). Only when `capabilities.pause`. */
  pause(): void;
  resume(): void;
  /** Sends a protocol-level ping; the peer's pong arrives as `onPong`. */
  ping(): void;
  /** Starts the closing handshake; data already written is sent first. */
  close(code: number, reason: string): void;
  /** Destroys the connection at once. */
  terminate(): void;
}

/** What the core gives the transport for each accepted connection. */
export interface SocketHandler {
  /** One complete message. `data` is only valid during the call (copy to keep it). */
  onMessage(data: Buffer, isBinary: boolean): void;
  onDrain(): void;
  onPong(): void;
  /** Called exactly once, whoever closed. */
  onClose(code: number, reason: string): void;
}

export interface UpgradeRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly remoteAddress: string;
}

export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly remoteAddress: string;
  /**
   * The request body, read in full before `onHttp` is called (empty when there is none). A body
   * above `TransportOptions.maxHttpBodyBytes` is answered with 413 by the transport itself.
   */
  readonly body: Buffer;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: string | Buffer;
  /**
   * Makes this a streaming response (server-sent events): the transport sends status, headers and
   * `body`, keeps the response open and hands it to `stream`, which returns the handler of its end.
   * Without it the response is complete once `body` is sent.
   */
  readonly stream?: (out: HttpStream) => HttpStreamHandler;
}

/** An open streaming HTTP response. Writes are never queued by the core beyond what this reports. */
export interface HttpStream {
  /** Writes a chunk at once; returns false when the peer is not reading (skip rather than pile up). */
  write(chunk: string): boolean;
  /** Bytes written but not yet handed to the kernel. */
  bufferedAmount(): number;
  /** Ends the response; `onClose` follows. */
  end(): void;
}

export interface HttpStreamHandler {
  /** Called exactly once when the response is over, whoever ended it (peer gone, end(), server closing). */
  onClose(): void;
}

export type UpgradeDecision =
  | {
      accept: true;
      /** Handed back, untouched, to `onConnection` (e.g. the verified identity). */
      context?: unknown;
      /** The subprotocol to select in the handshake; default: the first one offered. */
      protocol?: string;
    }
  | { accept: false; status: number; headers?: Record<string, string>; body: string };

export interface TransportCallbacks {
  /**
   * Decides on an upgrade before any WebSocket exists (admission, auth). May answer later (a
   * Promise, e.g. while a key set is fetched): the transport then keeps the request pending, and
   * if the client goes away meanwhile it drops the upgrade without calling `onConnection`. A
   * rejected Promise is answered with 500.
   */
  onUpgrade(request: UpgradeRequest): UpgradeDecision | Promise<UpgradeDecision>;
  /**
   * A connection was accepted; the core returns the handler for its events. Called synchronously
   * after an accepting decision, or not at all if the client went away before it resolved.
   */
  onConnection(socket: TransportSocket, request: UpgradeRequest, context: unknown): SocketHandler;
  /** Plain HTTP requests on the same port (health, metrics, dashboard); may answer with a stream. */
  onHttp(request: HttpRequest): Promise<HttpResponse> | HttpResponse;
}

export interface TransportOptions {
  readonly host: string;
  readonly port: number;
  readonly maxPayloadBytes: number;
  /** Bytes buffered in user space above which sends report backpressure. */
  readonly highWaterMarkBytes: number;
  /** The core's bound on each connection's outbound queue; a transport's own cap, if any, sits well above it. */
  readonly outboundQueueBytes: number;
  readonly perMessageDeflate: boolean;
  /** Largest HTTP request body read for `onHttp`; larger ones get 413. */
  readonly maxHttpBodyBytes: number;
}

export interface TransportCapabilities {
  /** Whether sockets support pause()/resume() of reading. */
  readonly pause: boolean;
}

export interface TransportServer {
  readonly name: string;
  /** What runs underneath (e.g. which native binary), for the start-up log line. */
  readonly detail?: string;
  readonly capabilities: TransportCapabilities;
  /** Prepares a payload once so it can be written to many sockets without re-framing. */
  prepare(payload: Buffer): PreparedFrame;
  /** Starts listening; resolves with the bound port. */
  listen(callbacks: TransportCallbacks): Promise<number>;
  /** Stops accepting new connections (existing ones stay open). */
  stopAccepting(): Promise<void>;
  /** Releases everything; call after all connections are closed. */
  close(): Promise<void>;
}
