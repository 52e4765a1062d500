import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, HttpStream, HttpStreamHandler, TransportCallbacks } from './transport.js';
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

const INTERNAL_ERROR: HttpResponse = { status: 500, headers: { 'Content-Type': 'text/plain' }, body: 'internal error' };

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

  respond(response: HttpResponse, corked: boolean): void {
    if (this.done) return;
    if (corked) this.send(response);
    else this.res.cork(() => this.send(response));
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

  private send(response: HttpResponse): void {
    if (response.stream === undefined) {
      writeResponse(this.res, this.method, response);
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

/** Serves one plain HTTP request through the core's onHttp. */
export function serveHttp(callbacks: TransportCallbacks, res: UwsHttpResponse, req: UwsHttpRequest): void {
  const request: HttpRequest = { method: req.getMethod().toUpperCase(), url: urlOf(req), headers: headersOf(req) };
  const exchange = new HttpExchange(res, request.method);
  exchange.watchAbort();
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
    exchange.respond(result, true);
  }
}
