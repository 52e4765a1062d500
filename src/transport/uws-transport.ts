import type { UpgradeDecision, UpgradeRequest } from '../net/http.js';
import type { TopicFanOut, TransportCallbacks, TransportCapabilities, TransportOptions, TransportServer } from '../net/server.js';
import type { PreparedFrame } from '../net/socket.js';
import { BATCH_SUBPROTOCOL } from '../protocol/batch.js';
import { CLOSE } from '../protocol/close-codes.js';
import { HTTP_REFUSALS, type HttpRefusalName } from '../protocol/refusals.js';
import type { UwsApp, UwsBehavior, UwsHttpRequest, UwsHttpResponse, UwsListenSocket, UwsModule, UwsWebSocket } from './uws-api.js';
import { ArrivingRequests, headersOf, serveHttp, urlOf, writeResponse } from './uws-http.js';
import { loadUws, type LoadedUws } from './uws-loader.js';
import { UWS_CORK_BYTES } from './uws-cork.js';
import { UwsSocket, type UwsSocketSettings, type UwsUserData } from './uws-socket.js';
import { UwsTopics } from './uws-topics.js';

type Ws = UwsWebSocket<UwsUserData>;

const adapterOf = (ws: Ws): UwsSocket => ws.getUserData().adapter!;

// Handlers are module-level functions that find their adapter through the socket's user data: no closures per connection.
function onMessage(ws: Ws, message: ArrayBuffer, isBinary: boolean): void {
  adapterOf(ws).receive(message, isBinary);
}
function onDrain(ws: Ws): void {
  adapterOf(ws).drained();
}
function onPong(ws: Ws): void {
  adapterOf(ws).pong();
}
function onPing(ws: Ws, message: ArrayBuffer): void {
  adapterOf(ws).pinged(message);
}
function onClose(ws: Ws, code: number, message: ArrayBuffer): void {
  const reason = Buffer.from(message).toString();
  // uWS drops the connection without a close frame for a broken frame, naming the fault ("Received invalid UTF-8",
  // "Received too big message" above its own limit): the peer receives 1006 and no reason, and that is what is logged
  // and counted. Other broken frames it drops without a word, as a peer's own drop looks: those are not counted.
  const fault = code === CLOSE.dropped.code && reason !== '' ? reason : undefined;
  adapterOf(ws).closedBy(code, fault === undefined ? reason : '', fault);
}

/**
 * Completes an upgrade decided after uWS's handler returned (token verification is asynchronous).
 * uWS.js's documented way, res.cork(() => res.upgrade(...)), is unsafe in the pinned build: when
 * the upgraded socket keeps its address (uWS shrinks the socket's memory in place), HttpResponse.cork
 * goes on to read HTTP state from what is now the WebSocket's memory and, if a stray bit there reads
 * "connection: close", shuts the new socket down at once: the client sees its open, then 1006,
 * and no frame (uNetworking/uWebSockets#1928, fixed upstream by #1929 in July 2026). So the upgrade
 * runs inside another open WebSocket's cork: uWS holds one cork per loop, so res.cork then only calls
 * back and never reaches that code. With no WebSocket open the upgrade runs uncorked (uWS.js then
 * prints a warning that writes should be corked); it writes the same response either way.
 */
export function upgradeLater(res: Pick<UwsHttpResponse, 'cork'>, holder: Pick<Ws, 'cork'> | undefined, upgrade: () => void): void {
  if (holder === undefined) upgrade();
  else holder.cork(() => res.cork(upgrade));
}

const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;

/** Topic bytes between two reads of the members' backpressure: a member that is behind gets at most a (stock) cork's worth before it is taken off. */
const TOPIC_CHECK_BYTES = UWS_CORK_BYTES;

/** uWS's own idle timeout, a backstop behind Sluice's heartbeat (see UWS_CAPABILITIES). */
export const UWS_IDLE_TIMEOUT_S = 960;

const SERVER_ERROR: UpgradeDecision = { accept: false, status: HTTP_REFUSALS.internal_error.status, body: HTTP_REFUSALS.internal_error.reason };

/** Carries out an upgrade decision; must run corked (inside uWS's handler or res.cork). */
function complete(res: UwsHttpResponse, request: UpgradeRequest, key: string, context: unknown, decision: UpgradeDecision): void {
  if (!decision.accept) {
    reject(res, decision.status, decision.body, decision.headers);
    return;
  }
  // Without a choice from the core, as ws: the first subprotocol offered other than `sluice.batch` (never selected unasked).
  const protocol = decision.protocol ?? (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).find((p) => p !== BATCH_SUBPROTOCOL) ?? '';
  const userData: UwsUserData = { request, context: decision.context, adapter: undefined, batch: protocol === BATCH_SUBPROTOCOL };
  res.upgrade(userData, key, protocol, request.headers['sec-websocket-extensions'] ?? '', context);
}

/** Answers an upgrade request with a plain HTTP response and closes the connection. */
function refuse(res: UwsHttpResponse, name: HttpRefusalName, headers?: Record<string, string>): void {
  const { status, reason } = HTTP_REFUSALS[name];
  reject(res, status, reason, headers);
}

function reject(res: UwsHttpResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  writeResponse(res, 'GET', { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers }, body }, true);
}

/**
 * uWS cannot stop reading a WebSocket; its own idle timeout (UWS_IDLE_TIMEOUT_S, checked every
 * 4 s) must never fire before Sluice's heartbeat has closed a silent connection: a minute of margin.
 */
export const UWS_CAPABILITIES: TransportCapabilities = { library: 'uWebSockets.js', pause: false, stableMessages: false, maxSilenceMs: UWS_IDLE_TIMEOUT_S * 1000 - 60_000 };

/**
 * The transport for the most connections and messages per core, on uWebSockets.js. Same seam and
 * behaviour as the `ws` transport except that reading cannot be paused (`capabilities.pause` is
 * false) and uWS's own timers are off: Sluice's housekeeping does heartbeats and idle timeouts.
 */
export class UwsTransport implements TransportServer {
  readonly name = 'uws';
  readonly capabilities = UWS_CAPABILITIES;
  private readonly uws: UwsModule;
  private readonly app: UwsApp;
  private readonly settings: UwsSocketSettings;
  /** For the sockets that selected `sluice.batch`. */
  private readonly batchSettings: UwsSocketSettings;
  /** Publications to caught-up subscribers (`outbound.uwsTopicFanout`). */
  private readonly uwsTopics: UwsTopics | undefined;
  private callbacks: TransportCallbacks | undefined;
  private listenSocket: UwsListenSocket | undefined;
  private accepting = true;
  private arriving: ArrivingRequests | undefined;
  /** Open WebSockets, oldest first: one of them lends its cork to upgrades decided later (see upgradeLater). */
  private readonly live = new Set<Ws>();

  private constructor(
    private readonly options: TransportOptions,
    readonly loaded: LoadedUws,
  ) {
    this.uws = loaded.uws;
    this.app = this.uws.App();
    this.uwsTopics = options.topicFanOut ? new UwsTopics(this.app, options.perMessageDeflate, TOPIC_CHECK_BYTES) : undefined;
    this.settings = {
      highWaterMark: options.highWaterMarkBytes,
      maxPayloadBytes: options.maxPayloadBytes,
      compress: options.perMessageDeflate,
      batchMax: 0,
      topics: this.uwsTopics,
      corkBytes: options.uwsCorkBytes,
    };
    this.batchSettings = { ...this.settings, batchMax: options.batchMaxBytes, topics: undefined };
  }

  get topics(): TopicFanOut | undefined {
    return this.uwsTopics;
  }

  /** Loads uWebSockets.js (throws a UwsLoadError saying why and how to fix it) and creates the transport. */
  static async create(options: TransportOptions): Promise<UwsTransport> {
    return new UwsTransport(options, loadUws());
  }

  /** Which binary runs, for the start-up log line. */
  get detail(): string {
    const cork = this.options.uwsCorkBytes === UWS_CORK_BYTES ? '' : `, runs of up to ${this.options.uwsCorkBytes} B (outbound.uwsCorkBytes)`;
    return `${this.loaded.packageName}@${this.loaded.version} (${this.loaded.source}) ${this.loaded.binary}${cork}`;
  }

  /** uWS frames each send itself: the prepared frame is the payload. */
  prepare(payload: Buffer): PreparedFrame {
    return payload;
  }

  listen(callbacks: TransportCallbacks): Promise<number> {
    this.callbacks = callbacks;
    const { options, uws } = this;
    const behavior: UwsBehavior<UwsUserData> = {
      // Twice our limit, so that a frame above ours still arrives and gets a 1009 close frame (see UwsSocket.receive).
      maxPayloadLength: 2 * options.maxPayloadBytes,
      // Sluice's housekeeping pings and closes idle connections long before this (createTransport keeps
      // heartbeat.idleTimeoutMs below it). uWS derives from it how long a closing connection may take to
      // flush what it has buffered after end(): 4 s with 0, the maximum of 16 s from 32 s up; 960 is the
      // largest value uWS accepts (others than 0 or 8-960 abort the process).
      idleTimeout: UWS_IDLE_TIMEOUT_S,
      sendPingsAutomatically: false,
      maxLifetime: 0,
      // A safety net far above what the core lets build up (the high-water mark plus one turn's frames),
      // never reached in normal operation; a frame uWS drops here costs the connection (UwsSocket.flush).
      // With topics, uWS would drop a topic frame unseen: the room topics may fill between reads is added.
      maxBackpressure:
        Math.max(16 * 1024 * 1024, 4 * (options.maxQueueBytes + options.highWaterMarkBytes + options.maxPayloadBytes)) +
        (this.uwsTopics === undefined ? 0 : UwsTopics.headroom(TOPIC_CHECK_BYTES, options.maxPayloadBytes, options.maxTopicsPerSocket)),
      closeOnBackpressureLimit: false,
      compression: options.perMessageDeflate ? uws.SHARED_COMPRESSOR | uws.SHARED_DECOMPRESSOR : uws.DISABLED,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.open(ws),
      message: onMessage,
      drain: onDrain,
      ping: onPing,
      pong: onPong,
      close: (ws, code, message) => {
        this.live.delete(ws);
        onClose(ws, code, message);
      },
    };
    this.app.ws('/*', behavior);
    const arriving = new ArrivingRequests(options.httpRequestTimeoutMs);
    this.arriving = arriving;
    const bodyLimits = { maxBodyBytes: options.maxHttpBodyBytes, allowance: options.bodyAllowance };
    this.app.any('/*', (res, req) => serveHttp(callbacks, res, req, bodyLimits, arriving));
    return new Promise((resolve, reject) => {
      this.app.listen(options.host, options.port, (listenSocket) => {
        if (listenSocket === false) {
          reject(new Error(`uWebSockets.js could not listen on ${options.host}:${options.port} (address in use, not available, or not permitted)`));
          return;
        }
        this.listenSocket = listenSocket;
        resolve(uws.us_socket_local_port(listenSocket));
      });
    });
  }

  async stopAccepting(): Promise<void> {
    this.accepting = false;
  }

  async close(): Promise<void> {
    this.arriving?.stop();
    this.uwsTopics?.close();
    this.accepting = false;
    if (this.listenSocket !== undefined) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
    // Closes whatever connection is left (the gateway has closed them all by now).
    this.app.close?.();
  }

  /** Runs synchronously inside uWS's handler, so the request (valid only now) is copied before anything else. */
  private upgrade(res: UwsHttpResponse, req: UwsHttpRequest, context: unknown): void {
    const request: UpgradeRequest = { url: urlOf(req), headers: headersOf(req), remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString() };
    const key = request.headers['sec-websocket-key'] ?? '';
    if (!WS_KEY.test(key) || request.headers['sec-websocket-version'] !== '13') {
      refuse(res, 'bad_handshake');
      return;
    }
    if (!this.accepting) {
      refuse(res, 'shutting_down', { 'Retry-After': '1' });
      return;
    }
    let decision: UpgradeDecision | Promise<UpgradeDecision>;
    try {
      decision = this.callbacks!.onUpgrade(request);
    } catch {
      decision = SERVER_ERROR;
    }
    if (!(decision instanceof Promise)) {
      complete(res, request, key, context, decision);
      return;
    }
    // Answering later: uWS needs onAborted, and `res` must not be touched once the client has gone.
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const later = (d: UpgradeDecision): void => {
      if (aborted) return;
      const finish = (): void => complete(res, request, key, context, d);
      if (d.accept) upgradeLater(res, this.live.values().next().value, finish);
      else res.cork(finish);
    };
    decision.then(later, () => later(SERVER_ERROR));
  }

  private open(ws: Ws): void {
    this.live.add(ws);
    const data = ws.getUserData();
    const request = data.request!;
    data.request = undefined;
    const context = data.context;
    data.context = undefined;
    const adapter = new UwsSocket(ws, request.remoteAddress, data.batch ? this.batchSettings : this.settings);
    data.adapter = adapter;
    adapter.attach(this.callbacks!.onConnection(adapter, request, context));
  }
}
