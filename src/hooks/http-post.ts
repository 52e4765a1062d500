import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** How a POST ended: the answer's status and body, or why there is none. */
export type PostResult = { readonly ok: true; readonly status: number; readonly text: string } | { readonly ok: false; readonly why: 'timeout' | 'error' };

/**
 * JSON POSTs to one URL over Node's http Agent with keep-alive: at most `maxSockets` connections,
 * idle ones reused without a new handshake. Node's built-in agent rather than fetch: its pool size
 * is the concurrency bound the caller sets, a call is one request object (no Request/Response/stream
 * wrappers), and nothing needs installing.
 */
export class JsonPoster {
  private readonly agent: HttpAgent;
  private readonly send: (url: URL, options: RequestOptions, cb: (res: IncomingMessage) => void) => ClientRequest;
  readonly url: URL;

  constructor(url: string, maxSockets: number) {
    this.url = new URL(url);
    const pool = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
    const https = this.url.protocol === 'https:';
    this.agent = https ? new HttpsAgent(pool) : new HttpAgent(pool);
    this.send = https ? httpsRequest : httpRequest;
  }

  /** Where it posts, without query or credentials (for log lines). */
  get target(): string {
    return this.url.origin + this.url.pathname;
  }

  /**
   * POSTs `body`; resolves (never rejects) with the status and body read up to `maxBytes` (a larger
   * body is an error), or a failure once `timeoutMs` has passed without a complete answer.
   */
  post(body: string, headers: Record<string, string>, timeoutMs: number, maxBytes: number): Promise<PostResult> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (result: PostResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const req = this.send(this.url, { method: 'POST', agent: this.agent, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= maxBytes) chunks.push(chunk);
          else {
            finish({ ok: false, why: 'error' });
            req.destroy();
          }
        });
        res.on('end', () => finish({ ok: true, status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', () => finish({ ok: false, why: 'error' }));
      });
      req.on('error', () => finish({ ok: false, why: 'error' }));
      const timer = setTimeout(() => {
        finish({ ok: false, why: 'timeout' });
        req.destroy();
      }, timeoutMs);
      req.end(body);
    });
  }

  /** Closes the pool's sockets; posts in flight end as errors. */
  close(): void {
    this.agent.destroy();
  }
}
