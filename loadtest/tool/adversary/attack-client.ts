import { connect, type Socket } from 'node:net';
import { WireClient, type WireHandler } from '../../../devkit/wire-client.js';

/** What the gateway answered, counted by kind: `upgrade 503`, `close 4100`, `err rate_limited`, `http 413`… */
export type Tally = Record<string, number>;

export function bump(tally: Tally, key: string, n = 1): void {
  tally[key] = (tally[key] ?? 0) + n;
}

/** Where the attackers aim. */
export interface AttackTarget {
  readonly url: URL;
  readonly host: string;
  readonly port: number;
  /** A key the gateway's HTTP publish API accepts. */
  readonly apiKey: string;
  /** Keys in the gateway's Redis, when it runs on the Redis broker. */
  readonly redisKeys?: () => Promise<number>;
}

/**
 * One attacking WebSocket connection on the load tool's raw-frame client: counts how its
 * handshake was refused or how the gateway closed it, and hands text frames to `onText`.
 */
export class AttackClient implements WireHandler {
  private readonly wire = new WireClient(this);
  private settle: ((c: AttackClient | undefined) => void) | undefined;
  private closedByUs = false;
  private ended: (() => void) | undefined;
  /** Resolves once the connection is over, whoever ended it. */
  readonly closed = new Promise<void>((resolve) => (this.ended = resolve));
  open = false;
  closeCode = 0;
  onText: ((text: string) => void) | undefined;

  private constructor(private readonly tally: Tally) {}

  /** Opens a connection; undefined (and counted) when the handshake is refused or fails. */
  static connect(target: AttackTarget, tally: Tally, timeoutMs = 10_000): Promise<AttackClient | undefined> {
    const client = new AttackClient(tally);
    return new Promise((resolve) => {
      client.settle = resolve;
      client.wire.connect(target.url, '/', timeoutMs);
    });
  }

  onOpen(): void {
    this.open = true;
    bump(this.tally, 'ws open');
    this.settle?.(this);
    this.settle = undefined;
  }

  onFrame(buf: Buffer, start: number, end: number): void {
    this.onText?.(buf.toString('utf8', start, end));
  }

  onClose(code: number): void {
    this.open = false;
    this.closeCode = code;
    if (code === 0) bump(this.tally, this.wire.refusedStatus > 0 ? `upgrade ${this.wire.refusedStatus}` : 'connect failed');
    else if (!this.closedByUs) bump(this.tally, `close ${code}`);
    this.settle?.(undefined);
    this.settle = undefined;
    this.ended?.();
  }

  send(request: object): void {
    this.wire.sendText(JSON.stringify(request));
  }

  sendTexts(texts: string[]): void {
    this.wire.sendTexts(texts);
  }

  sendFrames(bytes: Buffer): void {
    this.wire.sendFrames(bytes);
  }

  /** Stops reading: what the gateway sends piles up in its queues and the kernel's buffers. */
  stall(): void {
    this.wire.pause();
  }

  end(): void {
    this.closedByUs = true;
    this.wire.destroy();
  }
}

/** Opens `n` connections, `concurrency` handshakes at a time, until `deadline`. */
export async function connectMany(target: AttackTarget, tally: Tally, n: number, concurrency: number, deadline: number): Promise<AttackClient[]> {
  const out: AttackClient[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n && Date.now() < deadline) {
      next++;
      const c = await AttackClient.connect(target, tally, Math.max(1000, deadline - Date.now()));
      if (c !== undefined) out.push(c);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return out;
}

/** Parses one server frame's JSON, or undefined. */
export function parseFrame(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * A bare TCP connection for what no HTTP client sends: trickled headers, bodies held open.
 * Records the status line of whatever the gateway answers and whether it closed the socket.
 */
export class RawConnection {
  readonly socket: Socket;
  status = 0;
  closedByServer = false;
  private head = '';
  private mine = false;
  readonly closed: Promise<void>;

  constructor(target: AttackTarget) {
    this.socket = connect({ host: target.host, port: target.port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      if (this.status !== 0 || this.head.length > 64) return;
      this.head += chunk.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(this.head);
      if (m) this.status = Number(m[1]);
    });
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        if (!this.mine) this.closedByServer = true;
        resolve();
      }),
    );
  }

  /** False once the socket cannot take more without buffering in this process. */
  write(data: string | Buffer): boolean {
    return !this.socket.destroyed && this.socket.write(data);
  }

  destroy(): void {
    this.mine = true;
    this.socket.destroy();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
