/**
 * The subset of the uWebSockets.js v20 API the uws transport uses, typed here so that the build
 * depends on neither the official package nor the pinned npm build being installed. Every object
 * below is native and valid only for the documented lifetime: a WebSocket from `open` to `close`,
 * an HttpRequest during its handler, an HttpResponse until it is ended or aborted.
 */

export type UwsData = string | ArrayBuffer | Uint8Array;

export interface UwsWebSocket<T> {
  /** 1 sent, 0 sent with backpressure built up (drain follows), 2 dropped by maxBackpressure. */
  send(message: UwsData, isBinary?: boolean, compress?: boolean): number;
  getBufferedAmount(): number;
  /** Sends a close frame after buffered data; calls the close handler at once. */
  end(code?: number, reason?: UwsData): void;
  /** Closes without a close frame; calls the close handler at once. */
  close(): void;
  ping(message?: UwsData): number;
  cork(cb: () => void): UwsWebSocket<T>;
  getUserData(): T;
  /** Joins a topic of `UwsApp.publish`; false if it was a member already. */
  subscribe(topic: string): boolean;
  /** Leaves a topic; when it was the socket's last, uWS discards what was published and not yet written to it. */
  unsubscribe(topic: string): boolean;
}

export interface UwsHttpRequest {
  getHeader(lowerCaseKey: string): string;
  getUrl(): string;
  /** Lower-case method. */
  getMethod(): string;
  getQuery(): string;
  forEach(cb: (key: string, value: string) => void): void;
}

export interface UwsHttpResponse {
  writeStatus(status: string): UwsHttpResponse;
  writeHeader(key: string, value: string): UwsHttpResponse;
  end(body?: UwsData, closeConnection?: boolean): UwsHttpResponse;
  /** Writes a chunk (chunked encoding); false when it added backpressure. */
  write(chunk: UwsData): boolean;
  /** Called when the peer takes data again after backpressure; return true. */
  onWritable(handler: (offset: number) => boolean): UwsHttpResponse;
  endWithoutBody(): UwsHttpResponse;
  onAborted(handler: () => void): UwsHttpResponse;
  /** Closes the connection at once (onAborted follows). */
  close(): UwsHttpResponse;
  /** Stops reading the request's body (uWS stops polling the socket for reading) until resume(). */
  pause(): void;
  resume(): void;
  /** Body chunks; the ArrayBuffer is valid only during the call. */
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): UwsHttpResponse;
  cork(cb: () => void): UwsHttpResponse;
  getRemoteAddressAsText(): ArrayBuffer;
  upgrade<T>(userData: T, secWebSocketKey: string, secWebSocketProtocol: string, secWebSocketExtensions: string, context: unknown): void;
}

export interface UwsBehavior<T> {
  maxPayloadLength: number;
  idleTimeout: number;
  maxBackpressure: number;
  closeOnBackpressureLimit: boolean;
  sendPingsAutomatically: boolean;
  maxLifetime: number;
  compression: number;
  upgrade(res: UwsHttpResponse, req: UwsHttpRequest, context: unknown): void;
  open(ws: UwsWebSocket<T>): void;
  message(ws: UwsWebSocket<T>, message: ArrayBuffer, isBinary: boolean): void;
  drain(ws: UwsWebSocket<T>): void;
  /** A ping arrived; uWS has answered it already. */
  ping(ws: UwsWebSocket<T>, message: ArrayBuffer): void;
  pong(ws: UwsWebSocket<T>, message: ArrayBuffer): void;
  close(ws: UwsWebSocket<T>, code: number, message: ArrayBuffer): void;
}

export type UwsListenSocket = object;

export interface UwsApp {
  ws<T>(pattern: string, behavior: UwsBehavior<T>): UwsApp;
  any(pattern: string, handler: (res: UwsHttpResponse, req: UwsHttpRequest) => void): UwsApp;
  listen(host: string, port: number, cb: (listenSocket: UwsListenSocket | false) => void): UwsApp;
  /**
   * Records one frame for every member of a topic, written with the member's other pending
   * publications once per loop iteration, or before anything `send` or `end` writes to it; above
   * maxBackpressure a member's frame is dropped without a word. True when the topic has a member.
   */
  publish(topic: string, message: UwsData, isBinary?: boolean, compress?: boolean): boolean;
  /** Closes the listen sockets and every connection (not in every v20 release). */
  close?(): void;
}

export interface UwsModule {
  App(): UwsApp;
  us_listen_socket_close(listenSocket: UwsListenSocket): void;
  us_socket_local_port(socket: UwsListenSocket): number;
  readonly DISABLED: number;
  readonly SHARED_COMPRESSOR: number;
  readonly SHARED_DECOMPRESSOR: number;
}
