import type { Socket } from 'node:net';
import WebSocket from 'ws';

export interface DemoClientOptions {
  /** Called on every (re)connection, to subscribe. */
  readonly onOpen?: (client: DemoClient) => void;
  /** Reads at most this many bytes per second from TCP (a consumer on a slow link); 0 = as fast as it can. */
  readonly readBytesPerSecond?: number;
  /** Tracks `seq` per channel so a reconnect resumes with `since` (only clients that need it parse frames). */
  readonly resume?: boolean;
  /** Told when the server greets this client (with its connection id) and when it is closed. */
  readonly onHello?: (client: DemoClient) => void;
  readonly onClose?: (client: DemoClient, code: number) => void;
}

/** Reading budgets are granted per slice of this length, by the traffic's shared timer. */
export const SLICE_MS = 100;

/**
 * A simulated application client. It reconnects after the server closes it (with the backoff the
 * close code's band asks for) and, when asked, resumes its channels from where it was. It never
 * parses frames unless it needs their seq, so the demo's own CPU goes to the gateway.
 */
export class DemoClient {
  bytesIn = 0;
  connections = 0;
  lastClose = 0;
  /** The server's id for the current connection (from `hello`). */
  connId = '';
  private ws: WebSocket | undefined;
  private tcp: Socket | undefined;
  private budget = 0;
  /** Current read limit in bytes per second; 0 = unlimited. */
  private readRate: number;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly positions = new Map<string, { epoch: string; seq: number }>();

  constructor(
    readonly name: string,
    private readonly url: string,
    private readonly options: DemoClientOptions = {},
  ) {
    this.readRate = options.readBytesPerSecond ?? 0;
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.on('open', () => {
      this.connections++;
      this.connId = '';
      this.tcp = (ws as unknown as { _socket: Socket })._socket;
      if (this.options.readBytesPerSecond) {
        this.budget = this.sliceBudget();
        this.tcp.on('data', (chunk: Buffer) => {
          if (this.readRate === 0) return;
          this.budget -= chunk.length;
          if (this.budget <= 0) this.tcp?.pause();
        });
      }
      this.options.onOpen?.(this);
    });
    ws.on('message', (data: Buffer) => {
      this.bytesIn += data.length;
      if (this.connId === '') this.hello(data);
      else if (this.options.resume) this.track(data);
    });
    ws.on('error', () => {});
    ws.on('close', (code) => {
      this.lastClose = code;
      this.tcp = undefined;
      if (this.stopped) return;
      this.options.onClose?.(this, code);
      // 4200 band: at once; everything else: back off (with jitter so a herd does not return together).
      const delay = code >= 4200 && code < 4300 ? 100 : 1500 + Math.random() * 1500;
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
  }

  send(frame: object): void {
    this.sendRaw(JSON.stringify(frame));
  }

  /** Sends a frame already encoded as JSON; dropped while not connected. */
  sendRaw(json: string): void {
    if (this.open) this.ws!.send(json);
  }

  /** Subscribes, resuming from the last seq seen when the client tracks positions. */
  subscribe(ch: string): void {
    const since = this.positions.get(ch);
    this.send(since ? { op: 'sub', ch, id: ch, since } : { op: 'sub', ch, id: ch });
  }

  /** A new reading slice begins: a throttled client may read its share again. */
  refill(): void {
    if (!this.options.readBytesPerSecond || this.tcp === undefined) return;
    this.budget = Math.min(this.budget, 0) + this.sliceBudget();
    if (this.budget > 0 || this.readRate === 0) this.tcp.resume();
  }

  /** Changes the read limit of a client created with one (0 = read as fast as possible). */
  throttle(bytesPerSecond: number): void {
    this.readRate = bytesPerSecond;
    this.budget = 0;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.ws?.terminate();
  }

  private sliceBudget(): number {
    return (this.readRate * SLICE_MS) / 1000;
  }

  private hello(data: Buffer): void {
    const f = JSON.parse(data.toString()) as { ev: string; conn?: string };
    if (f.ev !== 'hello' || f.conn === undefined) return;
    this.connId = f.conn;
    this.options.onHello?.(this);
  }

  private track(data: Buffer): void {
    const f = JSON.parse(data.toString()) as { ev: string; ch?: string; seq?: number; epoch?: string; id?: unknown };
    if (f.ch === undefined || f.seq === undefined) return;
    // The ack's seq is where the subscription stands; replayed and live messages move it on.
    if (f.ev === 'ack' && f.epoch !== undefined) this.positions.set(f.ch, { epoch: f.epoch, seq: f.seq });
    else if (f.ev === 'msg') {
      const p = this.positions.get(f.ch);
      if (p !== undefined) p.seq = f.seq;
    }
  }
}
