import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, HttpStream, HttpStreamHandler } from '../net/http.js';
import type { BodyAllowance, TransportCallbacks } from '../net/server.js';
import { HTTP_REFUSALS } from '../protocol/refusals.js';
import type { UwsHttpRequest, UwsHttpResponse } from './uws-api.js';
import { PacedBody } from './paced-body.js';

/** Plain HTTP on the uWS port: requests copied synchronously (uWS reuses them), responses written corked. */

export function headersOf(req: UwsHttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  req.forEach((k, v) => {
    out[k] = out[k] === undefined ? v : `${out[k]}, ${v}`;
  });
  return out;
}

export function urlOf(req: UwsHttpRequest): string {
  const query = req.getQuery();
  return query ? `${req.getUrl()}?${query}` : req.getUrl();
}

/** Writes status, headers and body; must run corked (inside a uWS handler or res.cork). */
export function writeResponse(res: UwsHttpResponse, method: string, response: HttpResponse, closeConnection = false): void {
  writeHead(res, response);
  if (method === 'HEAD') res.writeHeader('Content-Length', String(Buffer.byteLength(response.body))).endWithoutBody();
  else res.end(response.body, closeConnection);
}

function writeHead(res: UwsHttpResponse, response: HttpResponse): void {
  res.writeStatus(`${response.status} ${STATUS_CODES[response.status] ?? 'Unknown'}`);
  // uWS writes Content-Length (or chunked encoding) itself, and Connection: close when told to close.
  for (const [k, v] of Object.entries(response.headers ?? {})) if (!WRITTEN_BY_UWS.has(k.toLowerCase())) res.writeHeader(k, v);
}

const WRITTEN_BY_UWS = new Set(['content-length', 'connection']);

const INTERNAL_ERROR: HttpResponse = { status: HTTP_REFUSALS.internal_error.status, headers: { 'Content-Type': 'text/plain' }, body: HTTP_REFUSALS.internal_error.reason };

/**
 * Requests still arriving (head received, not yet answered), for the request time limit: one
 * sweep every quarter of the limit (at most every second) cuts off those past it, so a slow
 * client holds a request at most about 1.25× the limit, with no timer per request.
 */
export class ArrivingRequests {
  private readonly exchanges = new Set<HttpExchange>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(private readonly timeoutMs: number) {
    this.timer = setInterval(() => this.sweep(), Math.min(1_000, timeoutMs / 4));
    this.timer.unref();
  }

  add(exchange: HttpExchange): void {
    this.exchanges.add(exchange);
  }

  delete(exchange: HttpExchange): void {
    this.exchanges.delete(exchange);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    const now = performance.now();
    for (const exchange of this.exchanges) if (now - exchange.startedAt > this.timeoutMs) exchange.cut();
  }
}

/** One request, from uWS's handler to the end of its (possibly asynchronous, possibly streamed) response. */
class HttpExchange implements HttpStream {
  readonly startedAt = performance.now();
  /** The peer went away or the response was ended: `res` must not be touched. */
  private done = false;
  private streamHandler: HttpStreamHandler | undefined;
  /** Bytes uWS kept in user space since the peer last became writable (an estimate: uWS does not report it). */
  private backlog = 0;
  /** The body, once the core asked for it; settles undefined if the peer goes away first. */
  private body: { promise: Promise<Buffer | undefined>; settle: (body: Buffer | undefined) => void } | undefined;

  constructor(
    private readonly res: UwsHttpResponse,
    private readonly method: string,
    private readonly arriving: ArrivingRequests,
  ) {
    arriving.add(this);
  }

  /** uWS aborts the process if a handler returns without responding or registering onAborted. */
  watchAbort(): void {
    this.res.onAborted(() => this.finish());
  }

  /** Reads the body within the turn's allowance: must be called during uWS's handler, or chunks arriving before are lost. */
  readBody(declared: number, { maxBodyBytes: max, allowance }: BodyLimits): Promise<Buffer | undefined> {
    if (this.body !== undefined) return this.body.promise;
    let resolve!: (body: Buffer | undefined) => void;
    const promise = new Promise<Buffer | undefined>((r) => (resolve = r));
    // The response must not be touched once done (answered or aborted): a body let go on later is not resumed then.
    const paced = new PacedBody(allowance, { pause: () => this.done || this.res.pause(), resume: () => this.done || this.res.resume() });
    const settle = (body: Buffer | undefined): void => {
      paced.end();
      resolve(body);
    };
    this.body = { promise, settle };
    if (declared > max) {
      settle(undefined);
      return promise;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    this.res.onData((chunk, isLast) => {
      if (size > max) return;
      size += chunk.byteLength;
      if (size > max) {
        settle(undefined);
        return;
      }
      // The ArrayBuffer is reused by uWS after this call: copy it.
      chunks.push(Buffer.from(chunk.slice(0)));
      paced.read(chunk.byteLength, isLast);
      if (isLast) settle(Buffer.concat(chunks));
    });
    return promise;
  }

  /** Whether the body was asked for (a body nobody read closes the connection after the answer). */
  get bodyRead(): boolean {
    return this.body !== undefined;
  }

  respond(response: HttpResponse, corked: boolean, closeConnection = false): void {
    if (this.done) return;
    this.arriving.delete(this);
    const close = closeConnection || response.headers?.Connection === 'close';
    if (corked) this.send(response, close);
    else this.res.cork(() => this.send(response, close));
  }

  /** Past the request time limit: the connection goes at once. */
  cut(): void {
    if (this.done) return;
    this.res.close();
    this.finish();
  }

  // ---- HttpStream ----

  write(chunk: string): boolean {
    if (this.done) return false;
    let ok = false;
    this.res.cork(() => {
      ok = this.res.write(chunk);
    });
    this.backlog = ok ? 0 : this.backlog + Buffer.byteLength(chunk);
    return ok;
  }

  bufferedAmount(): number {
    return this.backlog;
  }

  end(): void {
    if (this.done) return;
    this.res.cork(() => this.res.end());
    this.finish();
  }

  private send(response: HttpResponse, closeConnection: boolean): void {
    if (response.stream === undefined) {
      writeResponse(this.res, this.method, response, closeConnection);
      this.done = true;
      return;
    }
    writeHead(this.res, response);
    this.res.write(response.body);
    // uWS calls this when the peer takes data again after backpressure.
    this.res.onWritable(() => {
      this.backlog = 0;
      return true;
    });
    this.streamHandler = response.stream(this);
  }

  private finish(): void {
    this.arriving.delete(this);
    this.body?.settle(undefined);
    if (this.done) return;
    this.done = true;
    const handler = this.streamHandler;
    this.streamHandler = undefined;
    handler?.onClose();
  }
}

const EMPTY = Buffer.alloc(0);

/** Bounds on reading request bodies (TransportOptions). */
export interface BodyLimits {
  readonly maxBodyBytes: number;
  readonly allowance: BodyAllowance | undefined;
}

/**
 * Serves one plain HTTP request through the core's onHttp. Its body is read only if the core asks
 * (HttpRequest.readBody); an unread body is never read: the connection closes after the answer.
 */
export function serveHttp(callbacks: TransportCallbacks, res: UwsHttpResponse, req: UwsHttpRequest, body: BodyLimits, arriving: ArrivingRequests): void {
  const method = req.getMethod().toUpperCase();
  const headers = headersOf(req);
  const exchange = new HttpExchange(res, method, arriving);
  exchange.watchAbort();
  const declared = Number(headers['content-length'] ?? 0);
  const hasBody = headers['transfer-encoding'] !== undefined || declared > 0;
  const request: HttpRequest = {
    method,
    url: urlOf(req),
    headers,
    remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
    readBody: () => (hasBody ? exchange.readBody(declared, body) : Promise.resolve(EMPTY)),
  };
  let result: Promise<HttpResponse> | HttpResponse;
  try {
    result = callbacks.onHttp(request);
  } catch {
    result = INTERNAL_ERROR;
  }
  const unread = () => hasBody && !exchange.bodyRead;
  if (result instanceof Promise) {
    result.then(
      (response) => exchange.respond(response, false, unread()),
      () => exchange.respond(INTERNAL_ERROR, false, true),
    );
  } else {
    exchange.respond(result, true, unread());
  }
}
