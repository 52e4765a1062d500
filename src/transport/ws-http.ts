import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpRequest, HttpResponse } from '../net/http.js';
import type { BodyAllowance, TransportCallbacks } from '../net/server.js';
import { HTTP_REFUSALS } from '../protocol/refusals.js';
import { PacedBody } from './paced-body.js';

const { internal_error: INTERNAL_ERROR } = HTTP_REFUSALS;

/**
 * Reads a request body of at most `max` bytes, within the turn's body allowance; undefined (and
 * the rest left unread) when larger or when the client went away.
 */
function readBody(req: IncomingMessage, max: number, allowance: BodyAllowance | undefined): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.resolve(undefined);
  return new Promise((settle) => {
    const paced = new PacedBody(allowance, req);
    const resolve = (body: Buffer | undefined): void => {
      paced.end();
      settle(body);
    };
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
      paced.read(chunk.length, false);
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

export function headersOf(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}


/**
 * Answers a plain HTTP request through the core (`onHttp`). The body is read only when the core
 * asks for it, up to `maxBodyBytes`; a body left unread closes the connection after the answer.
 */
export async function serveHttp(req: IncomingMessage, res: ServerResponse, onHttp: TransportCallbacks['onHttp'], maxBodyBytes: number, allowance?: BodyAllowance): Promise<void> {
  try {
    let body: Promise<Buffer | undefined> | undefined;
    const request: HttpRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: headersOf(req),
      remoteAddress: req.socket.remoteAddress ?? '',
      readBody: () => (body ??= readBody(req, maxBodyBytes, allowance)),
    };
    const response = await onHttp(request);
    const close = body === undefined && hasBody(req);
    res.writeHead(response.status, close ? { ...response.headers, Connection: 'close' } : response.headers);
    if (response.stream === undefined) res.end(response.body);
    else openStream(res, response.body, response.stream);
  } catch {
    res.writeHead(INTERNAL_ERROR.status, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end(INTERNAL_ERROR.reason);
  }
}
