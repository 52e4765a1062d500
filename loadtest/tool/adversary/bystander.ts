import { WebSocket } from 'ws';

/**
 * The innocent client every adversary pattern runs beside: one subscriber and one publisher on a
 * `disconnect` channel (lossless: the gateway must cut it off rather than drop a message), and an
 * application-level ping every `pingEveryMs` whose round trip is the bystander's view of the
 * gateway's event loop. It counts what it loses: acknowledged publications that never arrived,
 * gaps, unrecovered resumes. A cut-off subscriber resumes from its last seq, as a real client does.
 */
export interface BystanderOptions {
  readonly url: string;
  readonly channel: string;
  /** Publications per second. */
  readonly rate: number;
  readonly pingEveryMs: number;
}

/** What the bystander saw since the last `mark()`. */
export interface BystanderReport {
  readonly published: number;
  readonly received: number;
  /** Acknowledged publications the subscriber did not receive, and will not. */
  readonly lost: number;
  readonly pongs: number;
  readonly pongP99Ms: number;
  readonly pongMaxMs: number;
  /** Close codes the bystander's connections received (it reconnects after each). */
  readonly closes: Record<string, number>;
  /** `err` codes the bystander's requests got (e.g. `unavailable`). */
  readonly errors: Record<string, number>;
}

/** How long the subscriber waits for acknowledged publications still in flight before counting them lost. */
const SETTLE_MS = 3000;
const RECONNECT_MS = 200;

interface Frame {
  ev: string;
  id?: number;
  seq?: number;
  epoch?: string;
  recovered?: boolean;
  code?: string;
  from?: number;
  to?: number;
  n?: number;
}

export class Bystander {
  private sub: WebSocket | undefined;
  private pub: WebSocket | undefined;
  private epoch: string | undefined;
  private lastSeq = 0;
  /** Seqs acknowledged to the publisher and not yet received by the subscriber. */
  private readonly outstanding = new Set<number>();
  /** Seqs received before their ack reached the publisher. */
  private readonly early = new Set<number>();
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private nextId = 1;
  private readonly pingsSent = new Map<number, number>();
  private window = freshWindow();

  constructor(private readonly o: BystanderOptions) {}

  async start(): Promise<void> {
    await Promise.all([this.connectSubscriber(), this.connectPublisher()]);
    const every = Math.max(1, Math.round(1000 / this.o.rate));
    this.timers.push(setInterval(() => this.publishOne(), every));
    this.timers.push(setInterval(() => this.ping(), this.o.pingEveryMs));
  }

  /** Waits for what is in flight to arrive, then reports the window and starts a new one. */
  async mark(): Promise<BystanderReport> {
    const deadline = Date.now() + SETTLE_MS;
    const cutoff = this.window.highestAcked;
    while (Date.now() < deadline && [...this.outstanding].some((s) => s <= cutoff)) await new Promise((r) => setTimeout(r, 25));
    const w = this.window;
    // A ping still unanswered counts with its age: a stalled gateway must not look fast.
    const now = performance.now();
    for (const [id, sent] of this.pingsSent) {
      w.rtts.push(now - sent);
      this.pingsSent.delete(id);
    }
    for (const seq of [...this.outstanding]) {
      if (seq > cutoff) continue;
      this.outstanding.delete(seq);
      w.lost++;
    }
    this.window = freshWindow();
    this.window.highestAcked = w.highestAcked;
    const rtts = w.rtts.sort((a, b) => a - b);
    return {
      published: w.published,
      received: w.received,
      lost: w.lost,
      pongs: rtts.length,
      pongP99Ms: rtts.length === 0 ? 0 : round(rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * 0.99))]!),
      pongMaxMs: rtts.length === 0 ? 0 : round(rtts[rtts.length - 1]!),
      closes: w.closes,
      errors: w.errors,
    };
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.sub?.terminate();
    this.pub?.terminate();
  }

  private connectSubscriber(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.o.url);
      this.sub = ws;
      ws.on('open', () => {
        const since = this.epoch === undefined ? undefined : { epoch: this.epoch, seq: this.lastSeq };
        ws.send(JSON.stringify({ op: 'sub', ch: this.o.channel, id: 0, since }));
      });
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString()) as Frame;
        if (f.ev === 'ack' && f.id === 0) this.subscribed(f, resolve);
        else if (f.ev === 'msg') this.received(f.seq!);
        else if (f.ev === 'gap') this.lose(f.from!, f.to!);
        else if (f.ev === 'pong') this.pong(f.id!);
        else if (f.ev === 'err') bump(this.window.errors, f.code ?? 'unknown');
      });
      this.onEnd(ws, () => this.connectSubscriber());
    });
  }

  private connectPublisher(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.o.url);
      this.pub = ws;
      ws.on('open', () => resolve());
      ws.on('message', (data) => {
        const f = JSON.parse(data.toString()) as Frame;
        if (f.ev === 'ack' && f.seq !== undefined) this.acked(f.seq);
        else if (f.ev === 'err') bump(this.window.errors, f.code ?? 'unknown');
      });
      this.onEnd(ws, () => this.connectPublisher());
    });
  }

  private onEnd(ws: WebSocket, reconnect: () => Promise<void>): void {
    ws.on('error', () => {});
    ws.on('close', (code) => {
      if (this.stopped) return;
      bump(this.window.closes, String(code));
      setTimeout(() => void reconnect(), RECONNECT_MS).unref();
    });
  }

  private subscribed(f: Frame, resolve: () => void): void {
    if (this.epoch !== undefined && f.recovered !== true) {
      if (f.epoch !== this.epoch) this.lose(1, Number.MAX_SAFE_INTEGER);
      else this.lose(this.lastSeq + 1, f.seq!);
    }
    if (this.epoch === undefined || f.recovered !== true) this.lastSeq = f.seq!;
    this.epoch = f.epoch;
    resolve();
  }

  private received(seq: number): void {
    if (seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.window.received++;
    if (!this.outstanding.delete(seq)) this.early.add(seq);
  }

  private acked(seq: number): void {
    this.window.highestAcked = Math.max(this.window.highestAcked, seq);
    if (!this.early.delete(seq)) this.outstanding.add(seq);
  }

  private lose(from: number, to: number): void {
    for (const seq of [...this.outstanding]) {
      if (seq < from || seq > to) continue;
      this.outstanding.delete(seq);
      this.window.lost++;
    }
    if (to !== Number.MAX_SAFE_INTEGER) this.lastSeq = Math.max(this.lastSeq, to);
  }

  private publishOne(): void {
    if (this.pub?.readyState !== WebSocket.OPEN) return;
    this.window.published++;
    this.pub.send(JSON.stringify({ op: 'pub', ch: this.o.channel, id: this.nextId++, data: { at: Date.now() } }));
  }

  private ping(): void {
    if (this.sub?.readyState !== WebSocket.OPEN) return;
    const id = this.nextId++;
    this.pingsSent.set(id, performance.now());
    this.sub.send(JSON.stringify({ op: 'ping', id }));
  }

  private pong(id: number): void {
    const sent = this.pingsSent.get(id);
    if (sent === undefined) return;
    this.pingsSent.delete(id);
    this.window.rtts.push(performance.now() - sent);
  }
}

function freshWindow() {
  return { published: 0, received: 0, lost: 0, highestAcked: 0, rtts: [] as number[], closes: {} as Record<string, number>, errors: {} as Record<string, number> };
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
