/** The listening side of the seam: one per gateway, implemented by each transport adapter. */
import type { HttpRequest, HttpResponse, UpgradeDecision, UpgradeRequest } from './http.js';
import type { PreparedFrame, SocketHandler, TransportSocket } from './socket.js';

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
  /** The core's bound on each connection's outbound queue (`outbound.maxQueueBytes`); a transport's own cap, if any, sits well above it. */
  readonly maxQueueBytes: number;
  readonly perMessageDeflate: boolean;
  /**
   * `outbound.batchMaxBytes`: on a connection that selected `sluice.batch`, the events a socket is
   * sent in one event-loop turn go out joined by `\n` in text frames of at most this many bytes
   * (an event larger than this alone); 0: one event per frame on every connection.
   */
  readonly batchMaxBytes: number;
  /** `outbound.uwsTopicFanout`: publications reach caught-up subscribers through the transport's own fan-out, where it has one. */
  readonly topicFanOut: boolean;
  /** `outbound.uwsCorkBytes`: the cork buffer of the uWebSockets.js build in use (uws only). */
  readonly uwsCorkBytes: number;
  /** `limits.maxSubscriptionsPerConnection`: the most topics a socket joins (the transport's own bounds account for them). */
  readonly maxTopicsPerSocket: number;
  /** Largest HTTP request body `readBody` reads; larger ones get undefined (413). */
  readonly maxHttpBodyBytes: number;
  /** The process's allowance of HTTP body bytes read per event-loop turn (`limits.httpBodyBytesPerTurn`); none: no bound. */
  readonly bodyAllowance?: BodyAllowance;
  /**
   * Longest time from a request's first byte to its last (head and body); past it the connection
   * is closed. Checked by one sweep for all requests, so a request may last up to about 1.25×.
   */
  readonly httpRequestTimeoutMs: number;
}

/**
 * What an adapter can and cannot do, declared by the adapter before one is created, so that the
 * transport layer can refuse a configuration it cannot carry out.
 */
export interface TransportCapabilities {
  /** The library underneath, for messages. */
  readonly library: string;
  /** Whether sockets support pause()/resume() of reading. */
  readonly pause: boolean;
  /** Whether a message or ping payload handed to the handler stays valid after the call (else it must be copied to be kept). */
  readonly stableMessages: boolean;
  /**
   * How long a silent connection may stay open before the library closes it itself, ms (Infinity:
   * never). Sluice's heartbeat must close it first, so heartbeat.idleTimeoutMs +
   * heartbeat.intervalMs may not exceed it.
   */
  readonly maxSilenceMs: number;
}

/**
 * A transport's own fan-out (uWS topics): one call publishes a prepared frame to every socket that
 * joined the topic, without a call per socket. Frames published to a topic reach each member after
 * everything the socket was sent before the call, and before everything it is sent after.
 */
export interface TopicFanOut {
  /**
   * Publishes `frame` (`bytes` long) to the topic's members; false when it did not (no member, or
   * the topic's share of the turn is taken): the caller then writes it to each socket itself.
   */
  publish(topic: string, frame: PreparedFrame, bytes: number): boolean;
}

export interface TransportServer {
  readonly name: string;
  /** What runs underneath (e.g. which native binary), for the start-up log line. */
  readonly detail?: string;
  readonly capabilities: TransportCapabilities;
  /** Prepares a payload once so it can be written to many sockets without re-framing. */
  prepare(payload: Buffer): PreparedFrame;
  /** The transport's own fan-out; absent when it has none or it is turned off (its sockets then have no `join`). */
  readonly topics?: TopicFanOut | undefined;
  /** Starts listening; resolves with the bound port. */
  listen(callbacks: TransportCallbacks): Promise<number>;
  /** Stops accepting new connections (existing ones stay open). */
  stopAccepting(): Promise<void>;
  /** Releases everything; call after all connections are closed. */
  close(): Promise<void>;
}

/** A request body that stopped reading for the turn's body allowance: called on a later turn to read on. */
export interface PausedBody {
  continueTurn(): void;
}

/**
 * HTTP body bytes all requests together read per event-loop turn (`limits.httpBodyBytesPerTurn`):
 * the core's per-turn allowance (session/turn-allowance.ts) fits it.
 */
export interface BodyAllowance {
  /** Charges bytes read (or about to be read) to this turn. */
  spent(bytes: number): void;
  /** True when `body` may read on now; false when the turn's allowance is spent: it stops reading and is called back on a later turn, in order. */
  mayGo(body: PausedBody): boolean;
}
