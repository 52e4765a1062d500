/**
 * The socket seam: what the core needs of one WebSocket connection, implemented by each transport
 * adapter in src/transport/. Nothing outside src/transport/ imports `ws` or uWebSockets.js; the
 * core sees only these types. The seam carries backpressure: every send says whether the socket
 * can take more, `bufferedAmount()` tells how much is waiting in user space, and `onDrain` says
 * when to resume.
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
   * must then deliver. The mark is judged without the frames the transport batches from cork() on
   * (until the turn's end at the latest; a batch is bounded by what one turn of the event loop
   * produces): they have not been offered to the kernel yet, so their size says nothing about the
   * peer.
   */
  sendPrepared(frame: PreparedFrame): boolean;
  /** Writes a small text frame (control frames: acks, errors, gaps). Same return as sendPrepared. */
  sendText(text: string): boolean;
  /** Writes a pong frame (the answer to a ping reported by `onPing`). Same return as sendPrepared. */
  sendPong(payload: Buffer): boolean;
  /** Batches the following sends into as few writes as possible, until uncork(). */
  cork(): void;
  uncork(): void;
  /** Stops/starts reading from the peer (TCP pushes back). Only when `capabilities.pause`. */
  pause(): void;
  resume(): void;
  /**
   * While paused: parses what was already read one frame per event-loop turn instead of all at once,
   * until resume(). Only when `capabilities.pause`.
   */
  deferParsing(): void;
  /** Sends a protocol-level ping; the peer's pong arrives as `onPong`. */
  ping(): void;
  /** Starts the closing handshake; data already written is sent first. */
  close(code: number, reason: string): void;
  /**
   * Closes a peer closed for abuse without the closing handshake: the close frame goes out after
   * the data already written, the write side is ended after it (TCP FIN: a peer that reads sees
   * the code and the end at once), and what the peer sends from then on is never parsed. ws reads
   * and drops up to `maxPayloadBytes` of it (room for the peer's own close frame and FIN, which end
   * the connection at once), then stops reading; uWS drops all of it (it cannot stop reading).
   * Until the peer's FIN arrives, the core's housekeeping terminates it like any overdue close.
   */
  abandon(code: number, reason: string): void;
  /** Destroys the connection at once. */
  terminate(): void;
  /**
   * Joins a topic of the transport's own fan-out (`TransportServer.topics`; absent without one):
   * the socket gets every frame published to the topic from now on, never one published before.
   */
  join?(topic: string): void;
  /** Leaves a topic: what was published to it before still reaches the socket, in order. */
  leave?(topic: string): void;
}

/** What the core gives the transport for each accepted connection. */
export interface SocketHandler {
  /** One complete message. `data` is only valid during the call (copy to keep it). */
  onMessage(data: Buffer, isBinary: boolean): void;
  onDrain(): void;
  onPong(): void;
  /**
   * A WebSocket ping of `bytes` arrived (`payload` only valid during the call). The core answers
   * it with `sendPong`, unless `payload` is undefined: the transport answers pings itself (uWS)
   * and reports them for the accounting only (a ping costs an inbound frame like any other).
   */
  onPing(payload: Buffer | undefined, bytes: number): void;
  /**
   * Called exactly once, whoever closed; `code` and `reason` are what the peer received (1006, '':
   * no close frame), except after the core's own close on `ws`, where they are the peer's answer.
   * `fault`: the transport itself closed the connection for a broken frame (invalid UTF-8, a
   * protocol violation, a frame above maxPayloadBytes), not the core nor the peer: what it found.
   */
  onClose(code: number, reason: string, fault?: string): void;
  /**
   * With a transport's own fan-out only: the transport holds frames for the socket not yet written,
   * or the socket is at its high-water mark. From now until `onSettled`, nothing may be published
   * to the socket through a topic (it would overtake those frames, or pile up unseen).
   */
  onBusy?(): void;
  /** The transport holds nothing for the socket and it is under its high-water mark (after `onBusy`, or first). */
  onSettled?(): void;
}
