import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

/** A request the backend received: which path, the parsed JSON body, the raw body and headers. */
export interface BackendCall {
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly raw: string;
  readonly headers: IncomingHttpHeaders;
}

/**
 * What a receiver checks of a call (docs/hooks.md): `X-Sluice-Signature` is `v1=` + the hex
 * HMAC-SHA256 of `<X-Sluice-Timestamp>.<raw body>` under `secret`, and the timestamp is within
 * five minutes of this clock. Computed here independently of the gateway's code.
 */
export function signedBy(call: BackendCall, secret: string): boolean {
  const timestamp = call.headers['x-sluice-timestamp'];
  const given = call.headers['x-sluice-signature'];
  if (typeof timestamp !== 'string' || typeof given !== 'string') return false;
  const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${timestamp}.${call.raw}`).digest('hex')}`);
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected) && Math.abs(Date.now() / 1000 - Number(timestamp)) <= 300;
}

/** How the backend behaves now; tests and benchmarks change it while the gateway runs. */
export interface BackendBehaviour {
  /** The JSON answer to a call; default `{"allow":true}`. */
  answer: (call: BackendCall) => unknown;
  /** Milliseconds before answering a call; default 0. */
  delayMs: (call: BackendCall) => number;
  /** `up` answers; `failing` answers 500; `down` drops the connection without an answer. */
  mode: 'up' | 'failing' | 'down';
}

/**
 * The application's backend as the hooks and webhooks see it, on 127.0.0.1 with a random port:
 * every path answers POSTs per `behaviour` and records what it received (bounded by `maxRecorded`).
 */
export class HookBackend {
  readonly calls: BackendCall[] = [];
  /** Calls received per path, however many are recorded. */
  readonly counts = new Map<string, number>();
  readonly behaviour: BackendBehaviour = { answer: () => ({ allow: true }), delayMs: () => 0, mode: 'up' };
  private waiters: Array<{ match: (c: BackendCall) => boolean; resolve: (c: BackendCall) => void }> = [];
  port = 0;

  private constructor(
    private readonly server: Server,
    private readonly maxRecorded: number,
  ) {}

  static async start(maxRecorded = 100_000): Promise<HookBackend> {
    const server = createServer({ keepAliveTimeout: 30_000 });
    const backend = new HookBackend(server, maxRecorded);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          // Recorded as an empty body: the test sees the raw text.
        }
        const call: BackendCall = { path: req.url ?? '/', body, raw, headers: req.headers };
        const { behaviour } = backend;
        if (behaviour.mode === 'down') {
          req.socket.destroy();
          return;
        }
        backend.record(call);
        const respond = (): void => {
          if (res.destroyed) return;
          if (backend.behaviour.mode !== 'up') {
            res.writeHead(500).end('failing');
            return;
          }
          const text = JSON.stringify(backend.behaviour.answer(call));
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
        };
        const delay = behaviour.delayMs(call);
        if (delay > 0) setTimeout(respond, delay);
        else respond();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    backend.port = (server.address() as { port: number }).port;
    return backend;
  }

  /** The URL of one path, e.g. `url('/publish')`. */
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Calls received on `path` so far. */
  on(path: string): BackendCall[] {
    return this.calls.filter((c) => c.path === path);
  }

  /** Resolves with the first call (already received or to come) that matches. */
  next(match: (c: BackendCall) => boolean, timeoutMs = 10_000): Promise<BackendCall> {
    const seen = this.calls.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`backend: timed out waiting for a call; ${this.calls.length} received`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (c) => {
          clearTimeout(timer);
          resolve(c);
        },
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private record(call: BackendCall): void {
    this.counts.set(call.path, (this.counts.get(call.path) ?? 0) + 1);
    if (this.calls.length < this.maxRecorded) this.calls.push(call);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(call)) return true;
      w.resolve(call);
      return false;
    });
  }
}
