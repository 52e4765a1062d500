import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, HttpStream, HttpStreamHandler } from '../net/http.js';
import type { TransportCallbacks } from '../net/server.js';
import { HTTP_REFUSALS } from '../protocol/refusals.js';
import type { UwsHttpRequest, UwsHttpResponse } from './uws-api.js';

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
  // uWS writes Content-Length (or chunked encoding) itself.
  for (const [k, v] of Object.entries(response.headers ?? {})) if (k.toLowerCase() !== 'content-length') res.writeHeader(k, v);
}

const INTERNAL_ERROR: HttpResponse = { status: HTTP_REFUSALS.internal_error.status, headers: { 'Content-Type': 'text/plain' }, body: HTTP_REFUSALS.internal_error.reason };

/** One request, from uWS's handler to the end of its (possibly asynchronous, possibly streamed) response. */
class HttpExchange implements HttpStream {
  /** The peer went away or the response was ended: `res` must not be touched. */
  private done = false;
  private streamHandler: HttpStreamHandler | undefined;
  /** Bytes uWS kept in user space since the peer last became writable (an estimate: uWS does not report it). */
  private backlog = 0;

  constructor(
    private readonly res: UwsHttpResponse,
    private readonly method: string,
  ) {}

  /** uWS aborts the process if a handler returns without responding or registering onAborted. */
  watchAbort(): void {
    this.res.onAborted(() => this.finish());
  }

  respond(response: HttpResponse, corked: boolean, closeConnection = false): void {
    if (this.done) return;
    if (corked) this.send(response, closeConnection);
    else this.res.cork(() => this.send(response, closeConnection));
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
    if (this.done) return;
    this.done = true;
    const handler = this.streamHandler;
    this.streamHandler = undefined;
    handler?.onClose();
  }
}

const EMPTY = Buffer.alloc(0);
const TOO_LARGE: HttpResponse = { status: HTTP_REFUSALS.body_too_large.status, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: `${HTTP_REFUSALS.body_too_large.reason}\n` };

/**
 * Serves one plain HTTP request through the core's onHttp, after reading its body (at most
 * `maxBodyBytes`; a larger one is answered 413 and the connection closed).
 */
export function serveHttp(callbacks: TransportCallbacks, res: UwsHttpResponse, req: UwsHttpRequest, maxBodyBytes: number): void {
  const method = req.getMethod().toUpperCase();
  const head = { method, url: urlOf(req), headers: headersOf(req), remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString() };
  const exchange = new HttpExchange(res, method);
  exchange.watchAbort();
  const length = head.headers['content-length'];
  if (length === undefined && head.headers['transfer-encoding'] === undefined) {
    dispatch(callbacks, exchange, { ...head, body: EMPTY }, true);
    return;
  }
  if (Number(length) > maxBodyBytes) {
    exchange.respond(TOO_LARGE, true, true);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  res.onData((chunk, isLast) => {
    if (size > maxBodyBytes) return;
    size += chunk.byteLength;
    if (size > maxBodyBytes) {
      exchange.respond(TOO_LARGE, false, true);
      return;
    }
    // The ArrayBuffer is reused by uWS after this call: copy it.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast) dispatch(callbacks, exchange, { ...head, body: Buffer.concat(chunks) }, false);
  });
}

function dispatch(callbacks: TransportCallbacks, exchange: HttpExchange, request: HttpRequest, corked: boolean): void {
  let result: Promise<HttpResponse> | HttpResponse;
  try {
    result = callbacks.onHttp(request);
  } catch {
    result = INTERNAL_ERROR;
  }
  if (result instanceof Promise) {
    result.then(
      (response) => exchange.respond(response, false),
      () => exchange.respond(INTERNAL_ERROR, false),
    );
  } else {
    exchange.respond(result, corked);
  }
}
