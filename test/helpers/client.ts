import type { Socket } from 'node:net';
import WebSocket from 'ws';

export type Frame = Record<string, unknown> & { ev: string };

/** ws's client options, and `offer`: the subprotocols to offer, e.g. `sluice.batch` for batch frames. */
export type TestClientOptions = WebSocket.ClientOptions & { offer?: string[] };

/**
 * A raw protocol client for tests: records every frame and lets a test wait for the one it needs.
 * Waiting is event-driven (resolved by the frame's arrival), with a timeout that only guards
 * against a hung test.
 */
export class TestClient {
  readonly frames: Frame[] = [];
  /** Each event's text as received, beside `frames`. */
  readonly texts: string[] = [];
  /** The text of each WebSocket frame received: with `sluice.batch` selected, a frame may hold several events, one per line. */
  readonly wireTexts: string[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void; from: number }> = [];
  private closeWaiters: Array<(code: number) => void> = [];
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const wire = isBinary ? Buffer.from(data as Buffer).toString() : data.toString();
      this.wireTexts.push(wire);
      for (const text of ws.protocol === 'sluice.batch' ? wire.split('\n') : [wire]) this.receive(text);
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      for (const w of this.closeWaiters) w(code);
      this.closeWaiters = [];
    });
    ws.on('error', () => {});
  }

  private receive(text: string): void {
    const frame = JSON.parse(text) as Frame;
    this.frames.push(frame);
    this.texts.push(text);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(frame)) return true;
      w.resolve(frame);
      return false;
    });
  }

  static connect(url: string, options: TestClientOptions = {}): Promise<TestClient> {
    const { offer, ...rest } = options;
    const ws = offer === undefined ? new WebSocket(url, rest) : new WebSocket(url, offer, rest);
    const client = new TestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  /** The underlying TCP socket (to stop reading and make this client a slow consumer). */
  get tcp(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a request with a fresh id and waits for its reply (ack, pong or err). */
  async request(frame: Record<string, unknown>): Promise<Frame> {
    const id = this.nextId++;
    const reply = this.next((f) => f.id === id && (f.ev === "ack" || f.ev === "err" || f.ev === "pong"), 10_000, this.frames.length);
    this.send({ ...frame, id });
    return reply;
  }

  async subscribe(ch: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    const reply = await this.request({ op: 'sub', ch, ...extra });
    if (reply.ev !== 'ack') throw new Error(`subscribe ${ch} failed: ${JSON.stringify(reply)}`);
    return reply;
  }

  /** The first frame, received from now on (or already received after index `from`), that matches. */
  next(match: (f: Frame) => boolean, timeoutMs = 10_000, from = 0): Promise<Frame> {
    for (let i = from; i < this.frames.length; i++) if (match(this.frames[i]!)) return Promise.resolve(this.frames[i]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a frame; ${this.closeCode === undefined ? 'still open' : `closed ${this.closeCode} '${this.closeReason}'`}; last: ${JSON.stringify(this.frames.slice(-3))}`)), timeoutMs);
      this.waiters.push({
        match,
        from,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  /** Waits until `count` frames matching have been received in total. */
  async waitForCount(match: (f: Frame) => boolean, count: number, timeoutMs = 15_000): Promise<Frame[]> {
    const matching = () => this.frames.filter(match);
    if (matching().length >= count) return matching();
    let seen = matching().length;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out: ${seen}/${count} frames`)), timeoutMs);
      const check = (f: Frame): boolean => {
        if (match(f)) seen++;
        if (seen >= count) {
          clearTimeout(timer);
          resolve();
          return true;
        }
        return false;
      };
      this.waiters.push({ match: check, from: 0, resolve: () => {} });
    });
    return matching();
  }

  /** Resolves once `cond()` holds, checking after every frame received. */
  until(cond: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; ${this.frames.length} frames, last: ${JSON.stringify(this.frames.slice(-2))}`)), timeoutMs);
      this.waiters.push({
        match: () => cond(),
        from: 0,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  messages(ch: string): Frame[] {
    return this.frames.filter((f) => f.ev === 'msg' && f.ch === ch);
  }

  closed(timeoutMs = 10_000): Promise<number> {
    if (this.closeCode !== undefined) return Promise.resolve(this.closeCode);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.closeWaiters.push((code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
