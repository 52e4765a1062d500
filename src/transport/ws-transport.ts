import { STATUS_CODES, createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { rejectUpgrade } from './http-response.js';
import { headersOf, serveHttp } from './ws-http.js';
import { frameText, type WsFrame } from './ws-frames.js';
import { adapt } from './ws-socket.js';
import type { UpgradeDecision, UpgradeRequest } from '../net/http.js';
import type { TransportCallbacks, TransportCapabilities, TransportOptions, TransportServer } from '../net/server.js';
import type { PreparedFrame } from '../net/socket.js';
import { BATCH_SUBPROTOCOL } from '../protocol/batch.js';
import { HTTP_REFUSALS } from '../protocol/refusals.js';

/** The subprotocol an upgrade decision selected, stored on the request for `handleProtocols`. */
const kProtocol = Symbol('sluice.protocol');
type WithProtocol = IncomingMessage & { [kProtocol]?: string };

const { internal_error: INTERNAL_ERROR, shutting_down: SHUTTING_DOWN, malformed_request: MALFORMED } = HTTP_REFUSALS;
const SERVER_ERROR: UpgradeDecision = { accept: false, status: INTERNAL_ERROR.status, body: INTERNAL_ERROR.reason };

/** The core's choice; without one, as uws: the first subprotocol offered other than `sluice.batch` (never selected unasked). */
function selectProtocol(offered: Set<string>, req: IncomingMessage): string | false {
  return (req as WithProtocol)[kProtocol] ?? [...offered].find((p) => p !== BATCH_SUBPROTOCOL) ?? false;
}

/** ws stops reading by pausing the TCP socket, and closes nothing on its own. */
export const WS_CAPABILITIES: TransportCapabilities = { library: 'ws', pause: true, stableMessages: true, maxSilenceMs: Infinity };

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
    this.http = createServer({ requestTimeout: timeout, headersTimeout: timeout, connectionsCheckingInterval: Math.min(1_000, timeout / 4) }, (req, res) => void serveHttp(req, res, (request) => this.callbacks!.onHttp(request), options.maxHttpBodyBytes, options.bodyAllowance));
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
      const batchMax = ws.protocol === BATCH_SUBPROTOCOL ? this.options.batchMaxBytes : 0;
      const adapter = adapt(ws, request.remoteAddress, this.options.highWaterMarkBytes, this.options.maxPayloadBytes, batchMax);
      adapter.handler = callbacks.onConnection(adapter, request, decision.context);
    });
  }
}
